# zarrs-cffi: `make demo` sets everything up and runs the demonstration; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CRATE := vendor/zarrs_ffi
CARGO_FLAGS := --locked --manifest-path $(CRATE)/Cargo.toml

.PHONY: all venv build demo test test-python test-zarr-suite test-matrix lint fmt header wheel sdist c-example memcheck fuzz bench clean

all: build

# The virtualenv, with the pinned development requirements (re-run when they change).
$(VENV)/.installed: requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# cargo (upstream fetch, native library, header) then the cffi module, installed editable.
build: venv
	$(PIP) install --quiet --no-build-isolation --no-deps -e .
	$(PY) -c "import zarrs_cffi; print('zarrs_cffi', zarrs_cffi.__version__, '| zarrs', zarrs_cffi.zarrs_version(), '|', zarrs_cffi.native_version())"

header: build
	@echo "generated $(CRATE)/include/zarrs_cffi.h (shipped as zarrs_cffi/include/zarrs_cffi.h)"

demo: build
	$(PY) -m zarrs_cffi demo

test: build c-example
	$(PY) -m pytest -q -p no:cacheprovider tests

# zarr-python's own tests (from the sdist of the installed zarr), once with zarr's default codec pipeline
# and once with zarrs_cffi.ZarrsCffiCodecPipeline; fails if a test passing with the default fails with
# ours and docs/zarr-suite.md does not list it. 3-7 min on 2 cores.
test-zarr-suite: build
	$(PY) tools/zarr_suite.py

# CPython 3.12 (pyenv) with the newest zarr-python (requirements-matrix.txt): our whole test suite and
# zarr-python's own suite with our pipeline, against the library `make build` made (no second cargo build).
PY312 ?= $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.12*/bin/python)))
MATRIX_VENV := .venv-py312

$(MATRIX_VENV)/.installed: requirements-matrix.txt pyproject.toml
	@test -n "$(PY312)" || { echo "no CPython 3.12 found: pyenv install 3.12, or make test-matrix PY312=/path/to/python3.12"; exit 1; }
	test -x $(MATRIX_VENV)/bin/python || $(PY312) -m venv $(MATRIX_VENV)
	$(MATRIX_VENV)/bin/pip install --quiet --upgrade pip
	$(MATRIX_VENV)/bin/pip install --quiet -r requirements-matrix.txt
	touch $@

test-matrix: build $(MATRIX_VENV)/.installed
	rm -rf $(MATRIX_VENV)/prebuilt && mkdir -p $(MATRIX_VENV)/prebuilt
	cp -r zarrs_cffi/lib zarrs_cffi/include $(MATRIX_VENV)/prebuilt/
	ZARRS_CFFI_PREBUILT=$(CURDIR)/$(MATRIX_VENV)/prebuilt $(MATRIX_VENV)/bin/pip install --quiet --no-build-isolation --no-deps -e .
	$(MATRIX_VENV)/bin/python -m pytest -q -p no:cacheprovider tests
	$(MATRIX_VENV)/bin/python tools/zarr_suite.py

lint: build
	$(VENV)/bin/ruff check zarrs_cffi tests tools build_ffi.py setup.py bench
	$(VENV)/bin/ruff format --check zarrs_cffi tests tools build_ffi.py setup.py
	$(VENV)/bin/mypy zarrs_cffi
	cargo fmt --check --manifest-path $(CRATE)/Cargo.toml
	cargo clippy $(CARGO_FLAGS) --release -- -D warnings

fmt: venv
	$(VENV)/bin/ruff format zarrs_cffi tests tools build_ffi.py setup.py
	cargo fmt --manifest-path $(CRATE)/Cargo.toml

# The C embedding example, built against the header and library the installed package ships.
c-example: build
	$(MAKE) -C csrc/examples PYTHON=$(abspath $(PY))

memcheck: c-example
	$(MAKE) -C csrc/examples PYTHON=$(abspath $(PY)) memcheck

wheel: venv
	$(PY) -m build --wheel --outdir dist .

sdist: venv
	$(PY) -m build --sdist --outdir dist .

fuzz: build
	$(PIP) install --quiet "atheris>=2.3"
	$(PY) tests/fuzz/fuzz_public_api.py -runs=200000

bench: build
	$(MAKE) -C csrc/bench PYTHON=$(abspath $(PY))
	bash bench/setup_env.sh
	bench/.venv/bin/python bench/run.py --out bench/RESULTS.md

clean:
	rm -rf build dist *.egg-info .zarr-suite $(MATRIX_VENV) zarrs_cffi/_zarrs_cffi.*.so zarrs_cffi/lib zarrs_cffi/include
	cargo clean --manifest-path $(CRATE)/Cargo.toml
	$(MAKE) -C csrc/examples clean
