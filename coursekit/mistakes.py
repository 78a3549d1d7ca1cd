"""The mistakes the grader diagnoses, each explained in a section of the book's mistakes chapter.

A section's anchor is the mistake's id: ``book/mistakes.html#<id>``.
"""

MISTAKES_PAGE = "book/mistakes.html"

MISTAKES = {
    "keep-drop-swapped": "Drop and keep probabilities swapped",
    "survivors-not-scaled": "Survivors not scaled by 1/(1-p)",
    "scaled-at-test-time": "Scaling at test time (vanilla dropout)",
    "active-in-test-mode": "Dropout still active in test mode",
    "seed-ignored": "The seed is ignored",
    "new-mask-in-backward": "A new mask drawn in the backward pass",
    "backward-missing-scale": "Backward pass missing the 1/(1-p) scale",
    "dtype-changed": "Output dtype changed",
    "input-modified": "Input modified in place",
    "mask-shared-across-batch": "One mask shared by the whole batch",
    "mask-shared-across-units": "One decision for all units of an example",
    "dropout-misplaced": "Dropout in the wrong place in the network",
    "dropout-after-last-layer": "Dropout after the last affine layer",
    "net-not-in-test-mode": "The net not switching to test mode when y is None",
    "dropout-not-applied": "The net ignores its dropout setting",
    "backward-skips-dropout": "The net's backward pass skips dropout",
}


def mistake_link(mistake_id, book_url=""):
    """Where the book explains a mistake, relative to ``book_url`` (the site's root)."""
    if mistake_id not in MISTAKES:
        raise KeyError(f"unknown mistake id {mistake_id!r}; known: {', '.join(MISTAKES)}")
    return f"{book_url.rstrip('/') + '/' if book_url else ''}{MISTAKES_PAGE}#{mistake_id}"
