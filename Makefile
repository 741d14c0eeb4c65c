# Two commands an instructor needs: `make test` and `make release` (and `make demo`).
# PYTHON builds the virtual environment. As root with namespaces any python3 works (a
# pyenv build under /root is bound back into each sandbox); where the grader gets no
# namespaces (Docker) it must be readable by an unprivileged user, as Debian's
# /usr/bin/python3 is. TORCH_SPEC lets CI pin the CPU wheel; users get a plain `torch`.
PYTHON ?= python3
TORCH_SPEC ?= torch
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test release demo bench clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(MAKE) --no-print-directory bytecode
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest

release: install
	$(BIN)/python -m autograder release

demo: install
	$(BIN)/python -m autograder demo

# The project's own modules compiled ahead, as pip does for installed packages: every
# grader, template and sandbox would otherwise compile them at each start wherever
# bytecode is not written (PYTHONDONTWRITEBYTECODE, a read-only checkout).
bytecode:
	$(BIN)/python -m compileall -q autograder grading_tests

# BENCH_ARGS: e.g. --quick (cohorts of 10 and 100), --no-otter, --otter-students 2
bench: install bytecode
	$(BIN)/python benchmarks/bench_grading.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
