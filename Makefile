# Every target sets up .venv on first use, so `make demo` / `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export PERCEPTUAL_TIMBRE_DATA ?= $(SHARED_DATA)
endif
export OMP_NUM_THREADS ?= 2

.PHONY: venv demo test test-fast test-quality lint bench docs clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# CPU build of torch (a bare "torch" requirement pulls a multi-GB CUDA build)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet "numpy>=1.25" scipy
	# nsgt's setup.py imports numpy: build it against the installed one
	$(PY) -m pip install --quiet --no-build-isolation nsgt==0.19
	# tinysoundfont's optional pyaudio dependency does not build here
	$(PY) -m pip install --quiet --no-deps tinysoundfont
	$(PY) -m pip install --quiet -e ".[tests]"
	# compile librosa's numba kernels (cached on disk) once, here: parallel test workers that
	# compile them at the same time on a fresh install corrupt the cache (segfaults)
	$(PY) -m perceptual_timbre.utils._warmup
	touch $(STAMP)

demo: venv
	$(PY) -m perceptual_timbre --output output

# two workers, one per core; a test file stays on one worker (its fixtures are built once)
PYTEST := $(PY) -m pytest -n 2 --dist loadfile

test: venv
	$(PYTEST)

# development loop: everything but the fits longer than ~10 s (pytest -m "not slow")
test-fast: venv
	$(PYTEST) -m "not slow"

# the quality tests alone; .ci/run reruns them with another seed on one thread, as
# another machine would run them (see tests/_quality.py)
test-quality: venv
	$(PYTEST) -m quality

lint: venv
	$(PY) -m ruff check perceptual_timbre tests examples benchmarks

bench: venv
	$(PY) benchmarks/run_all.py --output benchmarks/results

# PERCEPTUAL_TIMBRE_FAST=1 runs the gallery with fewer notes and epochs (as CI does)
docs: venv
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) output docs/_build docs/auto_examples docs/generated docs/_generated \
		docs/api.rst docs/sg_execution_times.rst
