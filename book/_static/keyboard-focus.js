/* Keyboard focus after the theme's buttons (added to every page by book/_ext/accessible_site.py).
   The book theme blurs its colour-mode, search and sidebar buttons on every click, so a reader
   who pressed one with Enter or Space lost their place: focus fell to the page itself, and
   closing a sidebar drawer with Escape did not return to its button. A button pressed from
   the keyboard gets the focus back once the theme is done, unless a dialog holds it. */
(() => {
  let opener = null;
  const giveBack = () => {
    const lost = !document.activeElement || document.activeElement === document.body;
    if (opener && lost && !document.querySelector("dialog[open]")) opener.focus();
  };
  document.addEventListener("click", (event) => {
    // A click made with the keyboard has no pointer position and a detail of 0.
    opener = event.detail === 0 && event.target.closest ? event.target.closest("button") : null;
    if (opener) setTimeout(giveBack, 0);
  }, true);
  // "close" does not bubble, but a capturing listener on the document still sees it.
  document.addEventListener("close", () => setTimeout(giveBack, 0), true);
})();
