"""How a worker starts: nbgrader's own command line, without its slowest import.

Importing nbgrader imports jsonschema, which imports the optional ``rfc3987_syntax`` and with
it compiles about 35 Earley parsers for IRI syntax: half of nbgrader's start-up, 1.5 of 3
CPU-seconds here (see python-jsonschema/jsonschema#1428). Nothing autograde validates uses
the ``iri`` formats, so the workers and the coordinator leave that module out; everything
else is plain nbgrader.
"""

import sys

IRI_SYNTAX_MODULE = "rfc3987_syntax"

# ``python -c NBGRADER_MAIN autograde ...`` is ``python -m nbgrader autograde ...`` without
# that import. (The workers run in the course root, where coursekit is not importable.)
NBGRADER_MAIN = (f"import sys; sys.modules.setdefault({IRI_SYNTAX_MODULE!r}, None); "
                 "from nbgrader.apps.nbgraderapp import main; sys.exit(main())")


def skip_iri_syntax_checks():
    """Make ``import rfc3987_syntax`` fail, so jsonschema goes without the ``iri`` formats;
    effective only before jsonschema is first imported."""
    sys.modules.setdefault(IRI_SYNTAX_MODULE, None)
