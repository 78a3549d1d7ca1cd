"""The keyboard walk of the built book (tests/test_book_a11y.py); not a test module itself.

Tab is pressed through an open page while a focus listener records, for every visible
control, the focus indicator it shows: its outline, its box shadow and the colour behind it.
On a phone the sidebars sit behind toggle buttons that open them as dialogs: each is opened
with Enter, walked with Tab and closed with Escape, and focus must come back to its button.
"""

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from book_site import css_colour_to_hex, figure_style

# Numbers every visible control under `root`, so that focus can be matched even when focusing
# changes an element's attributes (tooltips add aria-describedby). Nothing may hold focus
# while the controls' own styles are read (an opened dialog focuses its first control).
FOCUSABLE_JS = """root => {
    if (document.activeElement) document.activeElement.blur();
    document.querySelectorAll('[data-kbd-index]').forEach(el => delete el.dataset.kbdIndex);
    return Array.from(document.querySelector(root).querySelectorAll(
            'a[href], button, summary, input, select, textarea, [tabindex]'))
        .filter(el => el.tabIndex >= 0 && !el.disabled && el.offsetParent !== null
                      && getComputedStyle(el).visibility !== 'hidden'
                      // the content of a closed <details> is reached by opening its summary
                      && !(el.tagName !== 'SUMMARY' && el.closest('details:not([open])')))
        .map((el, i) => { el.dataset.kbdIndex = i;
                          return {html: el.outerHTML.slice(0, 80), boxShadow: getComputedStyle(el).boxShadow}; });
}"""

# Records the indicator of every numbered control that receives focus: its outline, its box
# shadow, and the colour behind them (the nearest background around the control).
RECORD_FOCUS_JS = """() => {
    window.kbdReached = {};
    if (window.kbdListening) return;
    window.kbdListening = true;
    document.addEventListener('focusin', event => {
        const el = event.target;
        if (!el.dataset || el.dataset.kbdIndex === undefined) return;
        // the theme fades its focus shadow in: read the end state (an endless animation cannot end)
        el.getAnimations().forEach(animation => { try { animation.finish(); } catch (endless) {} });
        const style = getComputedStyle(el);
        let background = 'rgb(255, 255, 255)';
        for (let up = el.parentElement; up; up = up.parentElement) {
            const colour = getComputedStyle(up).backgroundColor;
            if (colour !== 'transparent' && !/, 0\\)$/.test(colour)) { background = colour; break; }
        }
        window.kbdReached[el.dataset.kbdIndex] = {
            outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
            outlineColor: style.outlineColor, boxShadow: style.boxShadow, background};
    }, true);
}"""

SIDEBAR_TOGGLES = ["primary-toggle", "secondary-toggle"]


def keyboard_walk(page, root: str = "body") -> dict:
    """Press Tab through the visible controls under `root`: {"controls": [...], "reached": {index: style}}."""
    controls = page.evaluate(FOCUSABLE_JS, root)
    page.evaluate(RECORD_FOCUS_JS)
    reached, pressed = {}, 0
    # Formulas are focusable too (MathJax's menu), and Tab passes the browser's own stops.
    while len(reached) < len(controls) and pressed < 3 * len(controls) + 50:
        for _ in range(len(controls) - len(reached) + 3):
            page.keyboard.press("Tab")
            pressed += 1
        reached = page.evaluate("() => window.kbdReached")
    return {"controls": controls, "reached": reached}


# Where focus is: for the message of a drawer that did not give focus back.
FOCUS_STATE_JS = """() => ({focused: document.activeElement ? document.activeElement.outerHTML.slice(0, 80) : null,
    pageHasFocus: document.hasFocus(), openDialogs: Array.from(document.querySelectorAll('dialog[open]')).map(d => d.id)})"""


def drawer_walks(page) -> dict:
    """Each visible sidebar toggle opened with Enter: the dialog, its walk, and where Escape left focus."""
    found = {}
    for toggle in SIDEBAR_TOGGLES:
        buttons = page.locator(f"button.{toggle}:visible")
        if buttons.count() == 0:
            continue
        page.bring_to_front()  # the page walk's last Tab may have left for the browser's controls
        buttons.first.focus()
        page.keyboard.press("Enter")
        dialog = page.evaluate("() => (document.querySelector('dialog[open]') || {}).id || null")
        walk = keyboard_walk(page, f"#{dialog}") if dialog else {"controls": [], "reached": {}}
        for _ in range(3):   # Tab may have left for the browser's own controls: come back first
            if page.evaluate("() => document.hasFocus() && !!document.activeElement.closest('dialog[open]')"):
                break
            page.keyboard.press("Tab")
        returned = False
        for _ in range(2):  # on a loaded machine the first Escape can reach the browser's controls
            if _ and not page.evaluate("() => !!document.querySelector('dialog[open]')"):
                break  # the dialog closed and focus did not come back: a real failure
            if _:
                page.locator("dialog[open]").first.focus()
            page.keyboard.press("Escape")
            try:
                page.wait_for_function("toggle => document.activeElement.matches('button.' + toggle)",
                                       arg=toggle, timeout=10000)
                returned = True
                break
            except PlaywrightTimeout:
                pass
        after = None if returned else page.evaluate(FOCUS_STATE_JS)
        found[toggle] = dict(walk, dialog=dialog, buttons=buttons.count(), returned=returned, after=after)
    return found


def focus_screenshots(page, folder, label: str, drawers: bool) -> None:
    """A focused link of the text and, where the sidebars are drawers, the opened site navigation
    with a focused entry: PNG files in `folder`, taken once the theme's transitions have ended."""
    def shot(file_name):
        page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')",
                               timeout=10_000)
        page.screenshot(path=str(folder / file_name))
    page.locator("article a.reference.internal").first.focus()
    shot(f"text-link-{label}.png")
    if drawers:
        page.locator("button.primary-toggle:visible").first.focus()
        page.keyboard.press("Enter")
        for _ in range(3):
            page.keyboard.press("Tab")
        shot(f"site-navigation-{label}.png")
        page.keyboard.press("Escape")


SHADOW = re.compile(r"(rgba?\([^)]*\))((?:\s+-?[\d.]+px){2,4})(\s+inset)?")


def shadow_contrast(unfocused: dict, focused: dict) -> float | None:
    """Best contrast of an outer box shadow, spread 1 px or more, that only the focused control has."""
    if focused["boxShadow"] in ("none", unfocused["boxShadow"]):
        return None
    background = css_colour_to_hex(focused["background"])
    ratios = [figure_style.contrast(css_colour_to_hex(colour, background), background)
              for colour, lengths, inset in SHADOW.findall(focused["boxShadow"])
              if not inset and len(lengths.split()) == 4 and float(lengths.split()[3][:-2]) >= 1]
    return max(ratios, default=None)


def focus_problem(unfocused: dict, focused: dict) -> str | None:
    """Why a focused control shows no visible indicator (None when it does).

    Visible: the browser's own focus ring, or an outline at least 1 px wide, or a box shadow
    that appears only on focus (the theme's style for some buttons), with 3:1 contrast
    against the colour behind the control (WCAG 2.4.7, 1.4.11).
    """
    background = css_colour_to_hex(focused["background"])
    problem = "no outline and no focus shadow"
    if focused["outlineStyle"] not in ("none", "hidden") and focused["outlineWidth"] >= 1:
        if focused["outlineStyle"] == "auto":
            return None
        ratio = figure_style.contrast(css_colour_to_hex(focused["outlineColor"], background), background)
        if ratio >= 3:
            return None
        problem = f"outline {focused['outlineColor']} has {ratio:.2f}:1 contrast on {focused['background']}"
    shadow = shadow_contrast(unfocused, focused)
    if shadow is not None and shadow >= 3:
        return None
    if shadow is not None:
        problem = f"focus shadow {focused['boxShadow']} has {shadow:.2f}:1 contrast on {focused['background']}"
    return problem


def walk_problems(walk: dict) -> list[str]:
    """Controls that Tab never reached, and reached controls without a visible focus indicator."""
    problems = []
    for index, control in enumerate(walk["controls"]):
        focused = walk["reached"].get(str(index))
        if focused is None:
            problems.append(f"Tab never reaches {control['html']}")
        elif problem := focus_problem(control, focused):
            problems.append(f"{control['html']}: {problem}")
    return problems


def drawer_problems(drawers: dict) -> list[str]:
    """What keeps a keyboard reader out of a sidebar drawer, or lost after leaving it."""
    problems = []
    for toggle, drawer in drawers.items():
        where = f"{toggle} ({drawer['buttons']} visible)"
        if not drawer["dialog"]:
            problems.append(f"{where}: Enter opens no sidebar")
            continue
        if not drawer["controls"]:
            problems.append(f"{where}: the sidebar has {len(drawer['controls'])} controls")
        problems += [f"{where}: {problem}" for problem in walk_problems(drawer)]
        if not drawer["returned"]:
            problems.append(f"{where}: Escape does not bring focus back to the toggle ({drawer.get('after')})")
    return problems
