# zarrs-cffi: `make demo` sets everything up and runs the demonstration; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CRATE := vendor/zarrs_ffi
CARGO_FLAGS := --locked --manifest-path $(CRATE)/Cargo.toml

.PHONY: all venv build demo test test-python lint fmt header wheel sdist c-example memcheck fuzz bench docs clean

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

# The Rust unit tests (release profile: reuses the library build's compiled dependencies), then pytest.
test: build c-example
	cargo test $(CARGO_FLAGS) --release --lib
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: build
	$(VENV)/bin/ruff check zarrs_cffi tests build_ffi.py setup.py bench docs/conf.py docs/tools
	$(VENV)/bin/ruff format --check zarrs_cffi tests build_ffi.py setup.py docs/conf.py docs/tools
	$(VENV)/bin/mypy zarrs_cffi
	$(PY) -m pytest -q -p no:cacheprovider tests/test_docstrings.py
	cargo fmt --check --manifest-path $(CRATE)/Cargo.toml
	cargo clippy $(CARGO_FLAGS) --release -- -D warnings

fmt: venv
	$(VENV)/bin/ruff format zarrs_cffi tests build_ffi.py setup.py docs/conf.py docs/tools
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
	rm -rf build dist *.egg-info zarrs_cffi/_zarrs_cffi.*.so zarrs_cffi/lib zarrs_cffi/include docs/_build docs/_generated
	cargo clean --manifest-path $(CRATE)/Cargo.toml
	$(MAKE) -C csrc/examples clean
