# The two commands of README.md. Both create or reuse .venv (tools/setup_env.sh) first.
PY := .venv/bin/python

.PHONY: setup demo test test-ecosystem benchmark

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest

# The ecosystem stack (torch 2.1.2, numpy < 2, mmengine 0.10.7; tools/setup_ecosystem.sh): the
# operator, its torch integration and safe checkpoint loading there.
ECO_TESTS := tests/ops tests/setup/test_install.py tests/openmmlab/test_checkpoint.py
test-ecosystem:
	bash tools/setup_ecosystem.sh
	cd .eco/src && ../venv/bin/python -m pytest -p no:cacheprovider $(ECO_TESTS)

benchmark: setup
	$(PY) tools/benchmark_activation.py
