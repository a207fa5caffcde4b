# The two commands of README.md. Both create or reuse .venv (tools/setup_env.sh) first.
PY := .venv/bin/python

.PHONY: setup demo test test-slow test-ecosystem benchmark

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py

# The suite without the trainings marked slow (those: make test-slow; CI runs both).
test: setup
	$(PY) -m pytest -m "not slow"

test-slow: setup
	$(PY) -m pytest -m slow

# The ecosystem stack (torch 2.1.2, numpy < 2, mmcv 2.1.0, mmengine 0.10.7, mmdet 3.3.0, mmseg
# 1.2.2, mmpretrain 1.2.0; tools/setup_ecosystem.sh): the whole suite but its slow trainings.
ECO_TESTS := -m "not slow" tests
test-ecosystem:
	bash tools/setup_ecosystem.sh
	cd .eco/src && ../venv/bin/python -m pytest -p no:cacheprovider $(ECO_TESTS)

benchmark: setup
	$(PY) tools/benchmark_activation.py
