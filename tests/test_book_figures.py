"""The book's generated figures in the built site: vector images whose lines keep 3:1 contrast.

Every figure of a chapter must be an SVG (sharp at any zoom, on any screen) with a dark-mode
twin, and every line or marker stroke drawn fully opaque in it must have a contrast of at least
3:1 against its background, white for the figure and the theme's dark background for its twin
(WCAG 1.4.11). Faint strokes (grid lines, drawn with an opacity below 1) are decoration and are
not counted.
"""

import re

import pytest

from book_site import BOOK_PAGES, figure_style, require_site

FIGURE_SRC = re.compile(r'<figure[^>]*>.*?<img[^>]*src="([^"]+)"', re.S)
STYLE = re.compile(r'style="([^"]*)"')
STROKE = re.compile(r"stroke:\s*(#[0-9a-fA-F]{6})")
OPACITY = re.compile(r"stroke-opacity:\s*([0-9.]+)")


def figure_files(site):
    """(page, image path) of every figure on the book's pages."""
    found = []
    for page in BOOK_PAGES:
        text = (site / page).read_text(encoding="utf-8")
        found += [(page, (site / page).parent / src) for src in FIGURE_SRC.findall(text)]
    return found


def low_contrast_strokes(svg_text, minimum=3.0, background=figure_style.BACKGROUND):
    """Opaque stroke colours of an SVG below `minimum` contrast against `background`."""
    weak = set()
    for style in STYLE.findall(svg_text):
        colour = STROKE.search(style)
        opacity = OPACITY.search(style)
        if colour and (opacity is None or float(opacity.group(1)) >= 1):
            if figure_style.contrast(colour.group(1), background) < minimum:
                weak.add(colour.group(1).lower())
    return sorted(weak)


@pytest.fixture(scope="module")
def figures():
    return figure_files(require_site())


def test_palette_has_three_to_one_contrast_on_white():
    weak = {name: round(figure_style.contrast(colour), 2) for name, colour in figure_style.PALETTE.items()
            if figure_style.contrast(colour) < 3}
    assert weak == {}


def test_every_figure_is_a_vector_image(figures):
    assert len(figures) >= 10, figures
    assert [f"{page}: {path.name}" for page, path in figures if path.suffix != ".svg"] == []
    assert [str(path) for _, path in figures if not path.is_file()] == []


def test_every_line_in_every_figure_has_three_to_one_contrast(figures):
    problems = [f"{page}: {path.name}: {weak}" for page, path in figures
                if (weak := low_contrast_strokes(path.read_text(encoding="utf-8")))]
    assert problems == []


def dark_twin(path):
    return path.with_name(path.name.removesuffix(".svg") + ".dark.svg")


def test_dark_twins_have_three_to_one_contrast_on_the_dark_background(figures):
    assert [str(path) for _, path in figures if not dark_twin(path).is_file()] == []
    problems = [f"{page}: {dark_twin(path).name}: {weak}" for page, path in figures
                if (weak := low_contrast_strokes(dark_twin(path).read_text(encoding="utf-8"),
                                                 background=figure_style.DARK_BACKGROUND))]
    assert problems == []
    assert all(figure_style.contrast(twin, figure_style.DARK_BACKGROUND) >= 4.5
               for twin in [figure_style.DARK_TWINS["#000000"]])   # text and axes


def test_dark_twin_refuses_an_unknown_colour():
    svg = '<svg><defs></defs><path style="stroke: #0072b2"/><path style="fill: #fde725"/></svg>'
    with pytest.raises(ValueError, match=r"figure.svg: colour #FDE725 has no dark twin"):
        figure_style.dark_svg(svg, "figure.svg")
    twin = figure_style.dark_svg(svg.replace("#fde725", "#ffffff"), "figure.svg")
    assert "stroke: #56B4E9" in twin and f"fill: {figure_style.DARK_BACKGROUND}" in twin


def test_contrast_check_can_fail():
    viridis_yellow = '<path style="fill: none; stroke: #fde725; stroke-width: 1.5"/>'
    faint_grid = '<path style="stroke: #b0b0b0; stroke-opacity: 0.3"/>'
    assert low_contrast_strokes(viridis_yellow + faint_grid) == ["#fde725"]
    assert round(figure_style.contrast("#767676"), 1) == 4.5   # WCAG's own reference grey
