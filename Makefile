# The README's commands: `make repro` (set up, then run the whole pipeline) and `make test`; `make help` lists all.
VENV := .venv
PYTHON ?= python3
# Stage commands call papermill and the python3 kernel: both must come from the virtual environment.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup repro repro-paper test clean-scratch refresh-notebooks

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# The test tools (pyproject's `test` extra), pinned in requirements-test.txt.
$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(VENV)/bin/pip install --quiet -r requirements-test.txt
	touch $@

setup: $(VENV)/.installed  ## the virtual environment .venv with the pinned packages and padirec (about 2.5 min)

repro: setup  ## the whole pipeline, both studies (about 25 min on 2 cores)
	dvc repro

repro-paper: setup  ## data, backbones and the paper study only
	dvc repro evaluate@paper

test: $(VENV)/.test-installed  ## unit tests and the notebooks under nbval (about 3 min)
	pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

clean-scratch:  ## remove the smoke runs' and the stages' scratch folders
	rm -rf .scratch

# Re-execute the source notebooks with their smoke defaults, storing the outputs nbval compares.
refresh-notebooks: setup  ## re-run the source notebooks' stored smoke outputs (what nbval compares)
	jupyter nbconvert --to notebook --execute --inplace --log-level WARN --ExecutePreprocessor.record_timing=False \
		"--ExecutePreprocessor.extra_arguments=['--IPKernelApp.log_level=ERROR']" notebooks/[0-9]*.ipynb
