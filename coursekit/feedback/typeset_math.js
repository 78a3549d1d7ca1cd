// Typesets the TeX of feedback pages into SVG (with MathML for screen readers), so a page needs
// no script to show its formulas. One process serves many pages: each line on stdin is a JSON
// {"html": page}; each line on stdout is {"html": typeset page, "errors": [TeX that failed]}.
// The configuration matches what MathJax in the browser would do with the page.
"use strict";
const readline = require("readline");
const {mathjax} = require("mathjax-full/js/mathjax.js");
const {TeX} = require("mathjax-full/js/input/tex.js");
const {SVG} = require("mathjax-full/js/output/svg.js");
const {liteAdaptor} = require("mathjax-full/js/adaptors/liteAdaptor.js");
const {RegisterHTMLHandler} = require("mathjax-full/js/handlers/html.js");
const {AssistiveMmlHandler} = require("mathjax-full/js/a11y/assistive-mml.js");
const {AllPackages} = require("mathjax-full/js/input/tex/AllPackages.js");

const adaptor = liteAdaptor();
AssistiveMmlHandler(RegisterHTMLHandler(adaptor));
// Without noerrors/noundefined a mistyped formula becomes an merror node the caller can report.
const PACKAGES = AllPackages.filter((name) => !["noerrors", "noundefined"].includes(name));

function hasError(node) {
  return node.isKind("merror") || node.childNodes.some((child) => child && hasError(child));
}

function typeset(page) {
  const document = mathjax.document(page, {
    InputJax: new TeX({packages: PACKAGES, inlineMath: [["$", "$"], ["\\(", "\\)"]],
                       displayMath: [["$$", "$$"], ["\\[", "\\]"]], processEscapes: true}),
    OutputJax: new SVG({fontCache: "global"}),
  });
  document.render();
  const math = Array.from(document.math);
  if (math.length === 0) {
    return {html: page, errors: [], count: 0};
  }
  const errors = math.filter((item) => hasError(item.root)).map((item) => item.math);
  const html = adaptor.doctype(document.document) + "\n" + adaptor.outerHTML(adaptor.root(document.document));
  return {html, errors, count: math.length};
}

const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
lines.on("line", (line) => {
  let answer;
  try {
    answer = typeset(JSON.parse(line).html);
  } catch (error) {
    answer = {error: String(error && error.stack || error)};
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
