"""pytest configured for the hidden checks once, before a process forks the checks of each submission.

``pytest.main(args)`` first builds its configuration: it registers pytest's plugins and the
course's, reads the ini settings and parses the arguments. The arguments differ from one
submission to the next only in the options of ``pytest_plugin.OPTIONS`` (which submission,
where the verdict goes, the time limits), so a process that forks the checks (``checks_server``)
prepares the configuration of the common arguments once (``prepare``) and each child sets only
those options in its copy (``run``): about an eighth of the child's own CPU.

Anything else (other arguments, another folder or pytest environment) runs ``pytest.main`` as
before, and so does every child when nothing was prepared: with the speed-ups off
(``speedups.py``), or when pytest's private code this relies on changed. That use of pytest's
private API lives in ``coursekit/upstream_changes.py`` (``prepare_pytest_config``,
``run_prepared_pytest``), with the fingerprints of the code it was checked on. ``prepare`` runs
in the environment and folder the children run pytest in (``checks_server._warm_up``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Sequence

# Imported by the checks server before it sets the checks' environment: pytest and the plugin
# (which imports numpy, whose BLAS threads would then start) are imported where they are used.

# What pytest's configuration depends on besides the arguments: the folder and these variables.
ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")
_prepared: tuple[list[str], Any, tuple] | None = None  # (common arguments, their config, _context())


def _context() -> tuple:
    return os.getcwd(), tuple(os.environ.get(name) for name in ENVIRONMENT)


def prepare(common: Sequence[str]) -> None:
    """Configure pytest for ``common`` (the checks' arguments before a submission's options)."""
    global _prepared
    from ..upstream_changes import prepare_pytest_config

    config = prepare_pytest_config(list(common))
    _prepared = None if config is None else (list(common), config, _context())


def _options_parser() -> argparse.ArgumentParser:
    from .pytest_plugin import OPTIONS

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for flag, keywords in OPTIONS:
        parser.add_argument(flag, **{key: value for key, value in keywords.items() if key != "help"})
    return parser


def _submission_options(args: Sequence[str]) -> dict[str, Any] | None:
    """The values of OPTIONS in ``args``, or None if ``args`` are not the prepared arguments
    followed by those options only."""
    if _prepared is None or _context() != _prepared[2]:
        return None
    common = _prepared[0]
    if list(args[:len(common)]) != common:
        return None
    values, others = _options_parser().parse_known_args(list(args[len(common):]))
    return None if others else vars(values)


def run(args: Sequence[str]) -> int:
    """``pytest.main(args)``, on the prepared configuration when ``args`` allow it. Call once, in
    a child forked after ``prepare``: the configuration is used up."""
    import pytest

    values = _submission_options(args)
    if values is None:
        return int(pytest.main(list(args)))
    from ..upstream_changes import run_prepared_pytest

    config = _prepared[1]
    for dest, value in values.items():
        setattr(config.option, dest, value)  # pytest's public option namespace
    return run_prepared_pytest(config)
