# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve serve-http test test-e2e test-interop demo bench lint clean

# Recipes are silent (@) and pip writes to stderr: `make serve` speaks MCP on stdout, which must stay clean.
$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip 1>&2
	@$(BIN)/pip install --quiet -e ".[dev]" 1>&2
	@touch $(STAMP)

serve: $(STAMP)  ## stdio, the embedded default (what Claude Desktop launches)
	@$(BIN)/jarvis-mcp serve

serve-http: $(STAMP)  ## streamable HTTP at /mcp and legacy SSE at /sse on 127.0.0.1:8765
	$(BIN)/jarvis-mcp serve --transport http --host 127.0.0.1 --port 8765

test: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/pytest -q

test-e2e: $(STAMP)  ## only the browser tests (Debian's chromium + Playwright + the SDK's OAuth client)
	$(BIN)/pytest -q tests/e2e

test-interop: $(STAMP)
	bash tools/interop/run_conformance.sh

demo: $(STAMP)
	$(BIN)/jarvis-mcp demo

bench: $(STAMP)
	$(BIN)/python tools/bench_memory.py
	$(BIN)/python tools/retrieval_eval.py

lint: $(STAMP)
	$(BIN)/ruff check src tests tools

clean:
	rm -rf $(VENV) .cache build *.egg-info
