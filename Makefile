# Stacks & Branches: `make book` builds the website into _build/html; `make test` runs every check (CI: .ci/run).
# Both install what they need first (a virtual environment in .venv, the site's npm assets, and for the tests
# ipywidgets 7.7.1 in .w7 and Debian's chromium).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHAPTERS := $(wildcard chapters/*.ipynb)

# The chapters run in quick mode in the tests; the training chapter reads CIFAR-10 from here when it exists.
CIFAR10 := $(abspath $(wildcard ../shared/data/cifar10-jpeg.tar.gz))
ifneq ($(CIFAR10),)
export CNNLIB_CIFAR10 := $(CIFAR10)
endif

# pytest-xdist workers: the unit tests and the chapters two at a time; the browser tests three at a time (Chromium
# keeps both cores busy: four were slower), the checks of one page on one worker, which loads it once
# (tests/browser/conftest.py). `make test WORKERS=0` runs everything in one process.
WORKERS ?= 2
BROWSER_WORKERS ?= $(if $(filter 0,$(WORKERS)),0,3)
# Each worker's PyTorch (and the notebooks' kernels, and the processes the tests start) gets its share of the cores:
# two workers with two threads each on two cores run the unit tests and the chapters about twice as slowly as with
# one thread each (bench/experiments.py --quick, two at once on a 2-core AMD EPYC: 82 s against 40 s).
NPROC := $(shell nproc 2>/dev/null || echo 1)
TEST_THREADS := $(if $(filter 0,$(WORKERS)),$(NPROC),$(shell echo $$(( $(NPROC) / $(WORKERS) > 1 ? $(NPROC) / $(WORKERS) : 1 ))))
NBVAL := OMP_NUM_THREADS=$(TEST_THREADS) CNNLIB_QUICK=1 $(PY) -m pytest --nbval-lax --nbval-current-env -q -p no:cacheprovider \
	-n $(WORKERS) --dist loadscope chapters/

.PHONY: help book test venv assets html unit nbval nbval-w7 browser w7 chromium sync clean

help:
	@echo "make book   build the HTML book into _build/html (creates .venv and installs everything first)"
	@echo "make test   unit tests, chapters under nbval (ipywidgets 8 and 7.7.1), book build, browser tests"
	@echo "make sync   rewrite the chapters' colab-setup cells from _config.yml's repository url"
	@echo "make clean  remove _build"

# ------------------------------------------------------------------------------------------------ installation
# Re-installs when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[book,test]"
	touch $@

venv: $(VENV)/.installed

# MathJax and onnxruntime-web from npm (package-lock.json), copied into _build/assets and served from the book's
# _static/; the live view's ONNX networks exported from weights/ into _build/assets/live.
assets: venv
	$(PY) tools/fetch_assets.py
	$(PY) tools/export_onnx.py

# ipywidgets 7.7.1 (what Colab ships) in a side folder: the second nbval pass puts it first on PYTHONPATH.
.w7/.installed:
	$(PY) -m pip install -q --upgrade --no-deps --target .w7 ipywidgets==7.7.1 ipython_genutils==0.2.0 "jupyterlab_widgets<2"
	touch $@

w7: venv .w7/.installed

chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# ------------------------------------------------------------------------------------------------ the book
# A clean build each time (no stale pages); committed notebook outputs are rendered as they are.
html: venv assets
	rm -rf _build/html _build/.doctrees
	$(JB) build . -W -n --keep-going

book: html
	@echo "The book is in _build/html/index.html"

sync: venv
	$(PY) tools/sync_setup_cells.py

# ------------------------------------------------------------------------------------------------ the tests
unit: venv
	OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest tests --ignore=tests/browser -q -n $(WORKERS) --durations=8

nbval: venv
ifeq ($(CHAPTERS),)
	@echo "nbval: no chapters yet, skipped"
else
	$(NBVAL)
endif

nbval-w7: w7
ifeq ($(CHAPTERS),)
	@echo "nbval (ipywidgets 7.7.1): no chapters yet, skipped"
else
	$(PY) -c "import sys; sys.path.insert(0, '.w7'); import ipywidgets; assert ipywidgets.__version__ == '7.7.1', ipywidgets.__version__"
	PYTHONPATH=$(CURDIR)/.w7 $(NBVAL)
endif

browser: venv chromium
	CNNLIB_BROWSER_TESTS=required $(PY) -m pytest tests/browser -q -n $(BROWSER_WORKERS) --durations=8

# Everything, in order; stops at the first failure.
test: venv assets w7 chromium
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory nbval
	$(MAKE) --no-print-directory nbval-w7
	$(MAKE) --no-print-directory html
	$(MAKE) --no-print-directory browser

clean:
	rm -rf _build
