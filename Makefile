# zarrs-cffi: `make demo` sets everything up and runs the demonstration; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CRATE := vendor/zarrs_ffi
CARGO_FLAGS := --locked --manifest-path $(CRATE)/Cargo.toml
# PyPy for its wheel and the legacy matrix (Debian: apt-get install pypy3 pypy3-dev pypy3-venv).
PYPY ?= pypy3
PYPY_BUILD_VENV := build/pypy-build-venv
PYPY_BUILD_REQUIREMENTS := setuptools==82.0.1 wheel==0.48.0 build==1.4.4
WHEEL_SCRATCH := build/wheel-scratch
ORACLE_DIR := build/oracle

.PHONY: all venv build demo test test-python test-legacy test-legacy-ci legacy-interpreters oracle test-zarr-suite test-matrix lint fmt header wheel sdist c-example memcheck fuzz bench bench-local bench-remote docs clean

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

# The Rust unit tests (release profile: reuses the library build's compiled dependencies), the legacy
# interpreters' subset (3.8 + numpy 1.24, PyPy), then pytest (its summary is the last line).
test: build c-example
	cargo test $(CARGO_FLAGS) --release --lib
	$(MAKE) test-legacy-ci
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
	$(VENV)/bin/ruff check zarrs_cffi tests tools build_ffi.py setup.py bench docs/conf.py docs/tools
	$(VENV)/bin/ruff format --check zarrs_cffi tests tools build_ffi.py setup.py bench docs/conf.py docs/tools
	$(VENV)/bin/mypy zarrs_cffi
	$(PY) -m pytest -q -p no:cacheprovider tests/test_docstrings.py
	cargo fmt --check --manifest-path $(CRATE)/Cargo.toml
	cargo clippy $(CARGO_FLAGS) --release --all-targets -- -D warnings

fmt: venv
	$(VENV)/bin/ruff format zarrs_cffi tests tools build_ffi.py setup.py bench docs/conf.py docs/tools
	cargo fmt --manifest-path $(CRATE)/Cargo.toml

# The docs site (Sphinx + MyST + furo) into docs/_build/html; any warning fails the build. The API
# reference is generated from the installed package's docstrings and shipped header at every build.
$(VENV)/.docs-installed: requirements-docs.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-docs.txt
	touch $@

docs: build $(VENV)/.docs-installed
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: file://$(abspath docs/_build/html/index.html)"

# The C embedding example, built against the header and library the installed package ships.
c-example: build
	$(MAKE) -C csrc/examples PYTHON=$(abspath $(PY))

memcheck: c-example
	$(MAKE) -C csrc/examples PYTHON=$(abspath $(PY)) memcheck

# One wheel per platform: cp38-abi3 (every CPython >= 3.8, built by the default interpreter) and, when
# pypy3 is installed, PyPy's own; `auditwheel repair` checks both and gives them their manylinux tag
# (dist/*manylinux*.whl; the untagged originals stay in dist/raw). Scratch build directories are
# fresh each time, so no object file of an earlier build is linked in. ZARRS_CFFI_PREBUILT=DIR takes
# an already built native library instead of running cargo (see setup.py).
wheel: venv
	rm -rf $(WHEEL_SCRATCH) dist/raw dist/zarrs_cffi-*.whl
	mkdir -p $(WHEEL_SCRATCH)/egg dist/raw
	printf '[build]\nbuild_base = %s\n[egg_info]\negg_base = %s\n' \
		$(abspath $(WHEEL_SCRATCH))/build $(abspath $(WHEEL_SCRATCH))/egg > $(WHEEL_SCRATCH)/setup.cfg
	DIST_EXTRA_CONFIG=$(abspath $(WHEEL_SCRATCH))/setup.cfg $(PY) -m build --wheel --no-isolation --outdir dist/raw .
	if command -v $(PYPY) >/dev/null; then \
		test -x $(PYPY_BUILD_VENV)/bin/python || $(PYPY) -m venv $(PYPY_BUILD_VENV); \
		$(PYPY_BUILD_VENV)/bin/python -m pip install --quiet $(PYPY_BUILD_REQUIREMENTS); \
		DIST_EXTRA_CONFIG=$(abspath $(WHEEL_SCRATCH))/setup.cfg \
			$(PYPY_BUILD_VENV)/bin/python -m build --wheel --no-isolation --outdir dist/raw .; \
	else echo "NOTE: $(PYPY) not found, no PyPy wheel (apt-get install pypy3 pypy3-dev pypy3-venv)"; fi
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/auditwheel repair --wheel-dir dist dist/raw/*.whl
	for w in dist/zarrs_cffi-*.whl; do $(VENV)/bin/auditwheel show $$w | tr '\n' ' ' | sed 's/  */ /g'; echo; done

# CPython 3.8-3.13 come from pyenv on these machines; PyPy 3.9 is Debian's (installed here if missing
# and apt-get can run).
legacy-interpreters:
	@command -v $(PYPY) >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && apt-get install -y -q pypy3 pypy3-dev pypy3-venv; \
		else echo "PyPy is missing: apt-get install pypy3 pypy3-dev pypy3-venv" >&2; exit 1; fi; }

# The arrays zarr-python writes for the legacy interpreters' test runs (tests/oracle_data.py).
oracle: venv
	rm -rf $(ORACLE_DIR)
	$(PY) tests/oracle_data.py $(ORACLE_DIR)

# The wheel on CPython 3.8-3.13 and PyPy 3.9, each with its oldest supported numpy, newest 1.x and
# newest 2.x, every run in a fresh venv (tools/legacy_matrix.py; 19 runs, ~24 min). test-legacy-ci: the subset
# `make test` runs (3.8 + numpy 1.24.0, PyPy + numpy 2.0.2; ~2 min).
test-legacy: legacy-interpreters wheel oracle
	$(PY) tools/legacy_matrix.py --wheels dist --oracle $(ORACLE_DIR) --workdir build/legacy

test-legacy-ci: legacy-interpreters wheel oracle
	$(PY) tools/legacy_matrix.py --wheels dist --oracle $(ORACLE_DIR) --workdir build/legacy --matrix ci

sdist: venv
	$(PY) -m build --sdist --outdir dist .

fuzz: build
	$(PIP) install --quiet "atheris>=2.3"
	$(PY) tests/fuzz/fuzz_public_api.py -runs=200000

# The whole benchmark: local datasets, then the same over S3 (its tables go into RESULTS.md too).
bench: bench-local bench-remote

bench-local: build
	$(MAKE) -C csrc/bench PYTHON=$(abspath $(PY))
	bash bench/setup_env.sh
	bench/.venv/bin/python bench/run.py --out bench/RESULTS.md

# The same datasets over S3 (moto on loopback), plain and behind 20 ms of injected latency (netem in a
# network namespace where the kernel has it, else a delaying proxy). setup_env.sh installs zarrs_cffi from
# the repository (ZARRS_CFFI_PREBUILT=DIR: an already built native library, no cargo). Writes
# bench/RESULTS_REMOTE.md and copies it into bench/RESULTS.md.
bench-remote:
	bash bench/setup_env.sh
	bench/.venv/bin/python bench/remote.py --out bench/RESULTS_REMOTE.md

clean:
	rm -rf build dist *.egg-info .zarr-suite $(MATRIX_VENV) zarrs_cffi/_zarrs_cffi.*.so zarrs_cffi/lib zarrs_cffi/include docs/_build docs/_generated
	cargo clean --manifest-path $(CRATE)/Cargo.toml
	$(MAKE) -C csrc/examples clean
