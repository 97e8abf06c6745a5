# The README's two commands: `make repro` (set up, then run the whole pipeline) and `make test`.
VENV := .venv
PYTHON ?= python3
# Stage commands call papermill and the python3 kernel: both must come from the virtual environment.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup repro test clean-scratch refresh-notebooks

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

repro: setup
	dvc repro

test: setup
	pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

clean-scratch:
	rm -rf .scratch

# Re-execute the source notebooks with their smoke defaults, storing the outputs nbval compares.
refresh-notebooks: setup
	jupyter nbconvert --to notebook --execute --inplace --log-level WARN --ExecutePreprocessor.record_timing=False \
		"--ExecutePreprocessor.extra_arguments=['--IPKernelApp.log_level=ERROR']" notebooks/[0-9]*.ipynb
