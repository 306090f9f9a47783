# The tutorial's commands. Each sets up what it needs (a .venv in the checkout, reused when there).
#   make run        execute every notebook headless into runs/<timestamp>/ (the main job, offline defaults)
#   make test       every check, cheapest first: lint, unit, notebooks, browser (CI runs this: .ci/run)
#   make lint       ruff check and ruff format --check (settings in pyproject.toml)
#   make unit       the unit tests (tests/, without the browser test)
#   make notebooks  every notebook executed by nbmake in quick mode
#   make browser    JupyterLab in headless Chromium (tests/test_browser.py)
#   make format     ruff format the files the formatter covers (pyproject.toml's [tool.ruff.format])
#   make lab        JupyterLab on notebooks/
# Options: PYTHON=python3.11; TORCH_INDEX=https://download.pytorch.org/whl/cpu (a small CPU-only
# torch on Linux, where PyPI's default build brings CUDA libraries you do not need).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := grpo_helpers/requirements
TORCH_INDEX ?=
RUN_ID := $(shell date +%Y%m%d-%H%M%S)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup setup-browser run test lint format unit notebooks browser lab clean-venv

setup: $(STAMP)

# tests/requirements-dev.txt: the checks' own tools (ruff), not part of the tutorial's environment.
$(STAMP): $(REQS)/cpu.txt $(REQS)/no-deps.txt tests/requirements-dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed: install it, or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r $(REQS)/cpu.txt
	$(BIN)/python -m pip install --no-deps -r $(REQS)/no-deps.txt
	$(BIN)/python -m pip install -r tests/requirements-dev.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

# One torch thread: the test run checks behaviour, and on a 2-core machine two threads beside the
# kernel and pytest were measured 5x slower (oversubscription), not faster.
PYTEST := GRPO_QUICK=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest

# make test runs the tiers one after the other, cheapest first, and stops at the first that fails
# (make -k test runs every tier; .NOTPARALLEL keeps them in order under make -j too).
.NOTPARALLEL:
test: lint unit notebooks browser

# ruff check lints everything, the notebooks' code included; ruff format --check covers the files that
# pyproject.toml's [tool.ruff.format] exclude list leaves in (the rest waits for one reformat).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

# -m "not browser": the browser test has its own target (a -m naming "slow" would run the slow tests).
unit: $(STAMP)
	$(PYTEST) -m "not browser" tests

# The notebooks pass files along (05 saves the config, 06 the adapter, 07 reads both): conftest.py
# gives each test run a new, empty run folder, so nothing a person left in runs/ changes a test.
notebooks: $(STAMP)
	$(PYTEST) --nbmake notebooks --nbmake-timeout=1800

# The browser test (tests/test_browser.py, pytest -m browser) drives Debian's Chromium through
# Playwright: it skips and says why where Chromium is missing.
browser: setup-browser
	$(PYTEST) -m browser tests

# Set-up for the browser test: Playwright, and Chromium installed with apt-get where that is usable
# (root, or sudo without a password); elsewhere the browser test skips. Cheap when both are there.
BROWSER_STAMP := $(VENV)/.browser-installed
CHROMIUM ?= /usr/bin/chromium

$(BROWSER_STAMP): $(STAMP) tests/requirements-browser.txt
	$(BIN)/python -m pip install -r tests/requirements-browser.txt
	touch $(BROWSER_STAMP)

setup-browser: $(BROWSER_STAMP)
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then APT=""; \
		elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then APT="sudo -n"; \
		else APT=none; fi; \
		if [ "$$APT" = none ]; then echo "Chromium is missing and apt-get is not usable here: the browser test will skip"; \
		else echo "Installing Chromium for the browser test (apt-get install chromium)"; \
			$$APT env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
			|| { $$APT apt-get update -q >/dev/null && $$APT env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
			|| echo "apt-get could not install Chromium: the browser test will skip"; fi; \
	fi

# runs/latest points to the newest run; a real folder of that name (made by hand or by an older
# version) is moved aside to runs/latest.moved-<timestamp>, never written into or deleted.
run: $(STAMP)
	mkdir -p runs/$(RUN_ID)
	cd notebooks && for nb in $(notdir $(NOTEBOOKS)); do \
		echo "== $$nb"; start=$$(date +%s); \
		GRPO_RUN_DIR=$(CURDIR)/runs/$(RUN_ID) ../$(BIN)/jupyter nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=-1 --output-dir ../runs/$(RUN_ID) $$nb || exit 1; \
		echo "$$nb $$(( $$(date +%s) - start )) s" >> ../runs/$(RUN_ID)/timings.txt; \
	done
	@if [ -d runs/latest ] && [ ! -L runs/latest ]; then \
		mv runs/latest runs/latest.moved-$(RUN_ID); echo "runs/latest was a folder: moved to runs/latest.moved-$(RUN_ID)"; fi
	ln -sfn $(RUN_ID) runs/latest
	@echo "Wall clock per notebook (seconds):"; cat runs/$(RUN_ID)/timings.txt
	@awk '{total += $$2} END {print "total " total " s"}' runs/$(RUN_ID)/timings.txt
	@echo "Executed notebooks and their outputs: runs/$(RUN_ID)/"

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
