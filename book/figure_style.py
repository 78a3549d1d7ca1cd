"""Figure style of the book's pages: SVG output, lines told apart without colour.

Every page calls `use()` in its first cell. The palette is the Okabe-Ito one, darkened where
needed so that every colour has a contrast of at least 3:1 on the white figure background
(WCAG 1.4.11); each line also gets its own dash pattern and marker.
"""

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
        "legend.fontsize": 10,
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
