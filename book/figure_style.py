"""Figure style of the book's pages: SVG output, lines told apart without colour.

Every page calls `use()` in its first cell. The palette is the Okabe-Ito one, darkened where
needed so that every colour has a contrast of at least 3:1 on the white figure background
(WCAG 1.4.11); each line also gets its own dash pattern and marker.

Figures are drawn `WIDTH` inches wide with no text smaller than `MIN_FONT` points, so that on
a 390 px phone (a 342 px column) their text still renders at about 9.5 CSS px or more. After
the build, `dark_svg` turns each figure into its dark-mode twin (book/_ext/accessible_site.py).
"""

import re

from cycler import cycler
import matplotlib as mpl
from matplotlib_inline.backend_inline import set_matplotlib_formats

# Name -> hex colour; all at least 3:1 against white (tests/test_book_figures.py checks it).
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#C0470A",
    "green": "#007A5A",
    "purple": "#9E4A83",
    "black": "#000000",
    "grey": "#6B6B6B",
}
LINE_STYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D"]
BACKGROUND = "#FFFFFF"
WIDTH = 4.8  # inches: 346 pt of figure shown in a 342 px phone column
MIN_FONT = 10  # points: the smallest text a figure may use

# Dark mode: the theme's dark page background, and for every colour a figure may use, its twin
# with at least 3:1 contrast on that background (text colours: 4.5:1).
DARK_BACKGROUND = "#14181E"
DARK_TWINS = {
    "#000000": "#E6E6E6",   # text, axes, outlines
    "#FFFFFF": DARK_BACKGROUND,
    "#0072B2": "#56B4E9",
    "#C0470A": "#F0894D",
    "#007A5A": "#2EC08F",
    "#9E4A83": "#D58DB6",
    "#6B6B6B": "#A3A3A3",
    "#4C4C4C": "#BDBDBD",   # matplotlib's "0.3"
    "#B0B0B0": "#5C5C5C",   # grid lines
    # Box fills of the network diagram (book/fc-net.md), text on them stays readable.
    "#CFE2F3": "#1D3A55",
    "#FFF2CC": "#4A3F14",
    "#F4CCCC": "#552626",
    "#D9EAD3": "#24442A",
    "#EAD1DC": "#4C2A3C",
}
_COLOUR = re.compile(r"((?:fill|stroke|stop-color|color)\s*:\s*)(#[0-9a-fA-F]{6})\b")


def cycle() -> cycler:
    """Colour, dash pattern and marker change together from one line to the next."""
    colours = [PALETTE[name] for name in ("blue", "vermillion", "green", "purple")]
    return cycler(color=colours, linestyle=LINE_STYLES, marker=MARKERS)


def use() -> None:
    """Set the book's figure style for the rest of the page."""
    set_matplotlib_formats("svg")
    mpl.rcParams.update({
        "axes.prop_cycle": cycle(),
        "lines.markersize": 5,
        "figure.facecolor": BACKGROUND,
        "axes.facecolor": BACKGROUND,
        "savefig.facecolor": BACKGROUND,
        "svg.fonttype": "none",
        "font.size": 11,
        "axes.titlesize": 11,
        "legend.fontsize": MIN_FONT,
        "figure.figsize": (WIDTH, 3.4),
        "grid.color": "#B0B0B0",
        "legend.edgecolor": PALETTE["grey"],
    })


def contrast(foreground: str, background: str = BACKGROUND) -> float:
    """WCAG contrast ratio of two hex colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def dark_svg(svg: str, name: str = "figure") -> str:
    """The dark-mode twin of a figure drawn in the book's style.

    Every colour is swapped for its twin in DARK_TWINS; text without a colour of its own turns
    light, and embedded raster images (the digits) are inverted. A colour without a twin is an
    error naming the figure and the colour, so a new colour is never shown unchecked.
    """
    def swap(match: re.Match) -> str:
        colour = match.group(2).upper()
        if colour not in DARK_TWINS:
            raise ValueError(f"{name}: colour {colour} has no dark twin in figure_style.DARK_TWINS")
        return match.group(1) + DARK_TWINS[colour]
    swapped = _COLOUR.sub(swap, svg)
    style = (f"text {{ fill: {DARK_TWINS['#000000']}; }} "
             "image { filter: invert(1) hue-rotate(180deg); }")
    if "</defs>" not in swapped:
        raise ValueError(f"{name}: no <defs> element to carry the dark style (not a matplotlib SVG?)")
    return swapped.replace("</defs>", f'<style type="text/css">{style}</style></defs>', 1)
