# Set-up happens on first use: `make book` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
# nbgrader runs alembic and jupyter as subprocesses: the venv's bin/ must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Book pages and the instructor's notebooks import the instructor edition from the repository.
BOOK_ENV := PYTHONPATH=$(CURDIR) MPLBACKEND=Agg
INSTALLED := $(VENV)/.installed
# The venv's interpreter: the distribution's own CPython where it is new enough (pyproject.toml)
# and can make a venv. Debian builds it with profile-guided and link-time optimisation and links
# libpython in; pyenv's default build does neither, and graded 10% slower on this course's 2-core
# machine, 16% with the notebooks run (docs/benchmarks.md). Else python3 on PATH; or choose with
# `make setup BASE_PYTHON=...`.
BASE_PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' \
	2>/dev/null && echo /usr/bin/python3 || echo python3)
SYSTEM_DEPS := $(VENV)/.system-deps
EXTRAS := book,grading,hub,test,torch

.PHONY: setup book pdf test release demo student-edition clean

# npm packages pinned in package.json/package-lock.json: axe-core for the book's accessibility gate,
# mathjax-full for the formulas of the feedback pages (typeset when nbgrader generate_feedback runs).
NODE_DEPS := node_modules/.package-lock.json

setup: $(INSTALLED) $(SYSTEM_DEPS) $(NODE_DEPS)

# Debian's nodejs ships npm as a package of its own; NodeSource's nodejs includes it.
$(NODE_DEPS): package.json package-lock.json $(SYSTEM_DEPS)
	command -v npm >/dev/null || { echo npm > $(VENV)/.npm-package; bash .ci/install-system-packages $(VENV)/.npm-package; }
	npm ci --no-audit --no-fund
	touch $@

$(INSTALLED): pyproject.toml
	$(BASE_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check ".[$(EXTRAS)]"
	touch $@

# Debian packages: chromium for the browser test of the book.
$(SYSTEM_DEPS): .ci/system-packages.txt
	bash .ci/install-system-packages .ci/system-packages.txt
	mkdir -p $(VENV) && touch $@

book: $(INSTALLED) _build/.source_pkg.stamp
	$(BOOK_ENV) jupyter-book build . -W -n --keep-going

# The execution cache notices changed pages only; the pages also run source_pkg and the book's
# figure style, so a change there drops the cache and Sphinx's saved environment (without which
# Sphinx would not read the unchanged pages again) and every page runs again.
_build/.source_pkg.stamp: $(wildcard source_pkg/*.py) book/figure_style.py
	rm -rf _build/.jupyter_cache _build/.doctrees
	mkdir -p _build && touch $@

# The whole book as one offline PDF: the single-page build, printed by Debian's Chromium.
pdf: $(INSTALLED) $(SYSTEM_DEPS) _build/.source_pkg.stamp
	$(BOOK_ENV) jupyter-book build . --builder singlehtml -W -n --keep-going
	$(PYTHON) book/_ext/print_pdf.py _build/singlehtml _build/pdf/dropout-from-scratch.pdf

# The suite's files run on both cores (each file keeps its module fixtures in one process); the
# suite runs on the newest nbgrader 0.9.x pyproject.toml allows, then a sample of the catalogue's
# routes on the oldest (test-nbgrader-oldest).
test: setup book pdf
	$(PYTHON) -m pytest -n $(or $(TEST_JOBS),2) --dist loadfile
	$(MAKE) test-nbgrader-oldest


# What grading needs from Debian (bubblewrap): checked, and installed when run as root.
GRADING_DEPS := $(VENV)/.grading-deps
$(GRADING_DEPS): .ci/grading-packages.txt
	bash .ci/install-system-packages .ci/grading-packages.txt
	mkdir -p $(VENV) && touch $@

# nbgrader release of every assignment of the manifest (ASSIGNMENT=name: that one), with the
# student edition of source_pkg beside each notebook.
release: $(INSTALLED) $(GRADING_DEPS)
	$(PYTHON) -m coursekit.release $(ASSIGNMENT)

# A small class of example submissions through the real nbgrader pipeline.
demo: $(INSTALLED) $(NODE_DEPS)
	$(PYTHON) -m coursekit.demo

student-edition: $(INSTALLED)
	$(PYTHON) -m coursekit.editions $(or $(OUT),_build/student)

clean:
	rm -rf _build assignments/release assignments/submitted assignments/autograded assignments/feedback assignments/gradebook.db

# Autograde every submission of the class in parallel (each worker runs nbgrader autograde),
# then a score table and a class report in assignments/reports/<assignment>/, for every assignment
# of the manifest in turn (ASSIGNMENT=name: that one).
# WORKERS=N sets the number of workers (default: one more than the cores); RUN_NOTEBOOKS=1 also runs
# the notebooks' cells, so the feedback shows their outputs (same grades, about three times slower).
.PHONY: autograde
autograde: $(INSTALLED) $(GRADING_DEPS)
	status=0; for assignment in $(or $(ASSIGNMENT),$$($(PYTHON) -c "from coursekit.manifest import COURSE; print(*COURSE.assignment_names)")); do \
		$(PYTHON) -m coursekit.classgrade $$assignment --course-root assignments $(if $(WORKERS),--workers $(WORKERS)) \
			$(if $(RUN_NOTEBOOKS),--run-notebooks) $(if $(SIMPLE),--simple) || status=$$?; \
	done; exit $$status

# The course's JupyterHub on this machine, in the foreground (Ctrl-C or `make hub-stop` stops it):
# accounts dfs-instructor, dfs-ta, dfs-student1..HUB_STUDENTS, the course copy and nbgrader's
# exchange under HUB_ROOT, a DEMO shared password (printed). Run as root. `make hub-clean` removes
# exactly what it made (HUB_ROOT/made.json). docs/hub-instructors.md: the same on a real hub.
HUB_ROOT ?= /srv/dropout-from-scratch-hub
HUB_PORT ?= 8000
HUB_STUDENTS ?= 3
HUB_ARGS = --root $(HUB_ROOT) --students $(HUB_STUDENTS)
.PHONY: hub hub-stop hub-clean
hub: $(INSTALLED) $(NODE_DEPS)
	$(PYTHON) -m coursekit.hub run $(HUB_ARGS) --port $(HUB_PORT)

hub-stop:
	$(PYTHON) -m coursekit.hub stop $(HUB_ARGS)

hub-clean:
	$(PYTHON) -m coursekit.hub clean $(HUB_ARGS)

# The oldest nbgrader pyproject.toml allows (nbgrader>=0.9), in a venv of its own with the other
# grading dependencies as pyproject.toml has them. Its test grades every third entry of the fault
# catalogue by both instructor routes (tests/test_catalogue_routes.py), grades those and the broken
# entries with the speed-ups on and with --simple (tests/test_speedups_switch.py), and checks that
# the code coursekit/upstream_changes.py replaces is the code it was checked on.
OLDEST_NBGRADER := 0.9.0
OLDEST_VENV := .venv-nbgrader-oldest
OLDEST_INSTALLED := $(OLDEST_VENV)/.installed-$(OLDEST_NBGRADER)
.PHONY: test-nbgrader-oldest
$(OLDEST_INSTALLED): pyproject.toml
	$(BASE_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check ".[grading]" "nbgrader==$(OLDEST_NBGRADER)"
	touch $@

test-nbgrader-oldest: $(OLDEST_INSTALLED) $(GRADING_DEPS)
	$(OLDEST_VENV)/bin/python -c 'import nbgrader; assert nbgrader.__version__ == "$(OLDEST_NBGRADER)", nbgrader.__version__'
	PATH=$(CURDIR)/$(OLDEST_VENV)/bin:$$PATH CATALOGUE_SAMPLE_EVERY=3 $(OLDEST_VENV)/bin/python -m pytest -p no:cacheprovider -q \
		tests/test_catalogue_routes.py tests/test_upstream_changes.py tests/test_speedups_switch.py
