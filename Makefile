# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
# torch comes from the machine's local wheels (pip, Python 3.11); asking for it by exact
# version keeps pip from pulling a multi-GB CUDA build from the index.
ifeq ($(shell uname -m),aarch64)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif

.PHONY: install browser run serve demo lint typecheck test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

# The browser tests drive Debian's Chromium (Playwright's own download cannot reach its
# server here), with a CJK font so Chinese titles render. Installed where apt-get can run;
# elsewhere the browser tests skip and say why.
BROWSER_DEBS := chromium fonts-wqy-microhei
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -q $(BROWSER_DEBS) >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(BROWSER_DEBS) >/dev/null 2>&1; } || \
	    echo "could not install Chromium with apt-get: the browser tests will skip"; \
	  else \
	    echo "no Chromium and no root apt-get: the browser tests will skip (sudo apt-get install $(BROWSER_DEBS))"; \
	  fi; }

install: $(STAMP)

# Loaded once per var/ folder and demo catalog version; `make clean` starts over.
var/.stamp-demo: data/demo/catalog.csv | $(STAMP)
	$(BIN)/vitrine migrate
	$(BIN)/vitrine load data/demo/catalog.csv --images data/demo/images
	touch $@

demo: var/.stamp-demo

run: demo
	$(BIN)/vitrine serve

serve: install
	$(BIN)/vitrine serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest --cov --cov-report=term

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query_latency.py
	$(BIN)/python bench/fusion_head.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .coverage
