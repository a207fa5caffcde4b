# The two commands of README.md. Both create or reuse .venv (tools/setup_env.sh) first.
PY := .venv/bin/python

.PHONY: setup demo test benchmark

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest

benchmark: setup
	$(PY) tools/benchmark_activation.py
