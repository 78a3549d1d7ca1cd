"""Every change this project makes, at run time, to how another package behaves.

Four packages are changed, only for speed, and only here: nbgrader (one database engine per
address, its tables created once, its cell-metadata schema compiled once), jsonschema (the
optional IRI formats left out) and pytest (its configuration built once, through its private
API, before the checks of each submission are forked). Each change names the upstream code it
replaces or relies on (``UpstreamChange.replaces``) with the fingerprint (signature and source)
that code had on the versions it was checked on; ``tests/test_upstream_changes.py`` fails the
day one of them differs, and a change whose code differs is not applied (``stale``): grading
then takes upstream's own path and says so on stderr. With ``DROPOUT_GRADING_SIMPLE=1``
(``speedups.py``) none is applied. The proposals that would make them unnecessary are in
docs/nbgrader-upstream-proposals.md.

Standard library only at module level: the worker server's program loads it before nbgrader.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from dataclasses import dataclass
from typing import Any, Callable

from .speedups import speedups_on

IRI_SYNTAX_MODULE = "rfc3987_syntax"
CHECKED_ON = "nbgrader 0.9.0 and 0.9.6, pytest 9.2.0, jsonschema 4.26.0, SQLAlchemy 2.1.9, Python 3.11"


@dataclass(frozen=True)
class UpstreamChange:
    """One run-time change: its name, the upstream code it replaces or relies on (``module:qualname``
    -> the fingerprints that code had where the change was checked), and what applies it."""

    name: str
    replaces: dict[str, frozenset[str]]
    apply: Callable[..., Any]

    @property
    def why(self) -> str:
        """Why it exists and what it replaces: the docstring of the function that applies it."""
        return inspect.getdoc(self.apply) or ""


def fingerprint(code: Any) -> str:
    """A short hash of ``code``'s signature (when it has one) and source text."""
    try:
        signature = str(inspect.signature(code))
    except (TypeError, ValueError):
        signature = ""
    return hashlib.sha256(f"{signature}\n{inspect.getsource(code)}".encode()).hexdigest()[:16]


def resolve(target: str) -> Any:
    """The object a ``module:qualname`` (or ``module``) names."""
    module_name, _, qualname = target.partition(":")
    __import__(module_name)
    found = sys.modules[module_name]
    for part in filter(None, qualname.split(".")):
        found = getattr(found, part)
    return found


def stale(change: UpstreamChange, find: Callable[[str], Any] = resolve) -> list[str]:
    """The targets of ``change`` whose code is not what it was checked on (empty: safe to apply)."""
    found = []
    for target, known in change.replaces.items():
        try:
            current = fingerprint(find(target))
        except (ImportError, AttributeError, OSError, TypeError) as error:
            found.append(f"{target} ({type(error).__name__}: {error})")
            continue
        if current not in known:
            found.append(f"{target} (fingerprint {current}, checked: {', '.join(sorted(known))})")
    return found


def _apply_if_current(change: UpstreamChange, *args: Any) -> tuple[bool, Any]:
    """(True, what ``change.apply(*args)`` returned), or (False, None) and a line on stderr when
    the code it replaces is not the code it was checked on."""
    differs = stale(change)
    if differs:
        print(f"coursekit.upstream_changes: not applying {change.name}: the code it replaces changed: "
              f"{'; '.join(differs)}", file=sys.stderr)
        return False, None
    return True, change.apply(*args)


# -- jsonschema -------------------------------------------------------------------------------

def skip_iri_syntax_checks() -> None:
    """Make ``import rfc3987_syntax`` fail, so jsonschema goes without the ``iri`` formats.

    Why: importing nbgrader imports jsonschema, whose ``_format`` module imports the optional
    ``rfc3987_syntax`` and with it compiles about 35 Earley parsers: half of nbgrader's start-up
    (1.5 of 3 CPU-s here; python-jsonschema/jsonschema#1428). Nothing autograde validates uses
    the ``iri`` formats. Replaces: the optional import in ``jsonschema._format`` (module level).
    Effective only before jsonschema is first imported, so nothing is checked here (that would
    import jsonschema): tests/test_upstream_changes.py checks the module's fingerprint.
    Checked on: jsonschema 4.26.0 (``CHECKED_ON``)."""
    if speedups_on():
        sys.modules.setdefault(IRI_SYNTAX_MODULE, None)


# -- nbgrader ---------------------------------------------------------------------------------

def _share_engines() -> None:
    """One SQLAlchemy engine per database address and options in a process.

    Why: nbgrader opens a new engine for every ``Gradebook`` (about nine per submission) and
    each new engine compiles every query again: a quarter of a worker's CPU.
    Replaces: ``nbgrader.api.create_engine`` (SQLAlchemy's, called by ``Gradebook.__init__``)
    by a function that keeps one engine per (address, options); ``Gradebook.close`` still
    returns its connections and every session is still its own. Installed by the worker server
    before it forks; the engines are made in its workers, after the fork, so none crosses one.
    Checked on: nbgrader 0.9.0 and 0.9.6 with SQLAlchemy 2.1.9 (``CHECKED_ON``)."""
    import nbgrader.api

    create_engine, engines = nbgrader.api.create_engine, {}

    def shared_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = create_engine(url, **options)
        return engines[key]

    nbgrader.api.create_engine = shared_engine


def _create_tables_once() -> None:
    """nbgrader's tables created once per database address in a process.

    Why: ``Gradebook.__init__`` creates any missing table each time a gradebook opens, a query
    per table (thirteen), about nine times per submission.
    Replaces: ``nbgrader.api.Base.metadata.create_all`` by a function that calls it once per
    address.
    Checked on: nbgrader 0.9.0 and 0.9.6 with SQLAlchemy 2.1.9 (``CHECKED_ON``)."""
    import nbgrader.api

    metadata = nbgrader.api.Base.metadata
    create_all, created = metadata.create_all, set()

    def create_all_once(bind, **options):
        url = str(bind.url)
        if url not in created:
            create_all(bind=bind, **options)
            created.add(url)

    metadata.create_all = create_all_once


def _compile_metadata_schemas_once() -> None:
    """nbgrader's cell-metadata schema checked and compiled once.

    Why: ``BaseMetadataValidator.validate_cell`` calls ``jsonschema.validate``, which checks the schema
    itself again before every cell: a tenth of a worker's CPU on a checks-only submission.
    Replaces: the ``jsonschema`` name in ``nbgrader.nbgraderformat.common`` by a namespace whose
    ``validate`` compiles each schema once; an invalid cell raises the same error (the
    ``best_match`` of its errors, as ``jsonschema.validate`` raises).
    Checked on: nbgrader 0.9.0 and 0.9.6 with jsonschema 4.26.0 (``CHECKED_ON``)."""
    import types

    import jsonschema
    import nbgrader.nbgraderformat.common

    compiled = {}

    def validate(instance, schema):
        schema_and_validator = compiled.get(id(schema))
        if schema_and_validator is None or schema_and_validator[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            schema_and_validator = compiled[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(schema_and_validator[1].iter_errors(instance))
        if error is not None:
            raise error

    nbgrader.nbgraderformat.common.jsonschema = types.SimpleNamespace(validate=validate)


GRADEBOOK_INIT = {"nbgrader.api:Gradebook.__init__": frozenset({"6d170cbd1ebb50e4"})}

SHARE_ENGINES = UpstreamChange(
    "one database engine per address (nbgrader.api.create_engine)",
    {**GRADEBOOK_INIT, "sqlalchemy:create_engine": frozenset({"5f8988834478394e"})}, _share_engines)

CREATE_TABLES_ONCE = UpstreamChange(
    "tables created once per address (nbgrader.api.Base.metadata.create_all)",
    {**GRADEBOOK_INIT, "sqlalchemy.sql.schema:MetaData.create_all": frozenset({"8abdff6b26ceb0e0"})},
    _create_tables_once)

COMPILE_SCHEMAS_ONCE = UpstreamChange(
    "cell-metadata schema compiled once (nbgrader.nbgraderformat.common.jsonschema)",
    {"nbgrader.nbgraderformat.common": frozenset({"fda67306faf9dfee"}),
     "jsonschema:validate": frozenset({"30fe1f1f1db4ef1c"})}, _compile_metadata_schemas_once)

SKIP_IRI = UpstreamChange("jsonschema without rfc3987_syntax (the iri formats)",
                          {"jsonschema._format": frozenset({"eab3fbf1a8e48023"})}, skip_iri_syntax_checks)

NBGRADER_CHANGES = (SHARE_ENGINES, CREATE_TABLES_ONCE, COMPILE_SCHEMAS_ONCE)


def apply_to_nbgrader() -> list[str]:
    """Apply nbgrader's changes that still fit its code (none with the speed-ups off); returns
    the names of those applied. Call once per process, before any ``Gradebook`` is opened."""
    if not speedups_on():
        return []
    return [change.name for change in NBGRADER_CHANGES if _apply_if_current(change)[0]]


# -- pytest -----------------------------------------------------------------------------------

def _prepare_pytest_config(args: list[str]) -> Any:
    """pytest's configuration of ``args``, built once before the checks are forked.

    Why: ``pytest.main(args)`` first builds its configuration (plugins registered, ini read,
    arguments parsed): about an eighth of a checks child's CPU, the same for every submission
    but for the options of ``pytest_plugin.OPTIONS``.
    Replaces: the first step of ``_pytest.config._main`` (``_prepareconfig``, private since
    pytest 3), done once; each forked child sets its submission's options and runs the rest of
    ``_main`` (``run_prepared_pytest``, which restates that body, so ``_main`` is fingerprinted).
    Checked on: pytest 9.2.0 (``CHECKED_ON``)."""
    from _pytest.config import _prepareconfig

    return _prepareconfig(list(args))


PYTEST_PREPARED_CONFIG = UpstreamChange(
    "pytest's configuration built once (_pytest.config._prepareconfig)",
    {"_pytest.config:_main": frozenset({"3c0c319f7970b852"}),
     "_pytest.config:_prepareconfig": frozenset({"68948e758697d1cb"}),
     "_pytest.config:Config._ensure_unconfigure": frozenset({"16c5d2405c337d3e"})},
    _prepare_pytest_config)


def prepare_pytest_config(args: list[str]) -> Any:
    """pytest's configuration of ``args``, or None (speed-ups off, or pytest's code changed)."""
    if not speedups_on():
        return None
    return _apply_if_current(PYTEST_PREPARED_CONFIG, args)[1]


def run_prepared_pytest(config: Any) -> int:
    """The rest of ``_pytest.config._main`` on a configuration from ``prepare_pytest_config``;
    use it once (pytest unconfigures it at the end)."""
    import os

    import pytest

    os.environ["PYTEST_VERSION"] = pytest.__version__  # as _main sets it
    try:
        try:
            return int(config.hook.pytest_cmdline_main(config=config))
        finally:
            config._ensure_unconfigure()
    except pytest.UsageError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)


# -- nbgrader's formgrader (not for speed: the switch leaves it on) ---------------------------

def _grade_off_the_event_loop() -> bool:
    """formgrader's Autograde button grades in a worker thread.

    Why: formgrader's ``AutogradeHandler.post`` runs ``nbgrader autograde`` on the Jupyter
    server's event loop: the server answers nothing until the submission is graded, and a
    failure's reason is buried in the dialog's log. Not a speed-up of grading: kept with
    ``DROPOUT_GRADING_SIMPLE=1``.
    Replaces: ``nbgrader.server_extensions.formgrader.apihandlers.AutogradeHandler.post`` by the
    handler of ``coursekit/formgrader_async.py`` (same decorators, same reply, reasons first).
    Checked on: nbgrader 0.9.0 and 0.9.6 (``CHECKED_ON``)."""
    from .formgrader_async import install

    return install()


FORMGRADER_AUTOGRADE = UpstreamChange(
    "formgrader's Autograde off the event loop (AutogradeHandler.post)",
    {"nbgrader.server_extensions.formgrader.apihandlers:AutogradeHandler.post": frozenset({"f918af7a3e86f36a"})},
    _grade_off_the_event_loop)


def grade_off_the_event_loop() -> bool:
    """Apply ``FORMGRADER_AUTOGRADE`` once, in a Jupyter server; True if it was applied now."""
    from nbgrader.server_extensions.formgrader import apihandlers

    if getattr(apihandlers.AutogradeHandler.post, "off_event_loop", False):
        return False
    return bool(_apply_if_current(FORMGRADER_AUTOGRADE)[1])


CHANGES = (SKIP_IRI, *NBGRADER_CHANGES, PYTEST_PREPARED_CONFIG, FORMGRADER_AUTOGRADE)
