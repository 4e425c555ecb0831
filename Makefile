# Everyday commands; `make test` is the README's test command and what CI runs.
.PHONY: help dev format lint test bench all

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

dev:  ## build the extension into .venv (debug)
	python3 -m venv .venv 2>/dev/null || true
	.venv/bin/pip install -q "maturin>=1.7,<2"
	. .venv/bin/activate && maturin develop

format:  ## cargo fmt; ruff format; ruff check --fix
	cargo fmt --all
	.venv/bin/ruff format python tests examples benches
	.venv/bin/ruff check --fix python tests examples benches

lint:  ## formatting and lint checks, stub check
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features -- -D warnings
	.venv/bin/ruff check python tests examples benches
	.venv/bin/ruff format --check python tests examples benches
	.venv/bin/python -m mypy.stubtest ferromqtt._core

test:  ## install test peers and run every test (the README's test command)
	bash scripts/test.sh

bench:  ## criterion benchmarks of the codec
	cargo bench --bench codec

all: format dev lint test  ## everything
