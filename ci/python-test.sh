#!/usr/bin/env bash
# The Python package's tests, which CI runs after `cargo test` (the
# README's test command; the pytest suite uses the debug binary it built):
# a fresh virtual environment, maturin and pytest from PyPI, the wheel built
# from python/ (dev profile: see python/Cargo.toml) and pip-installed, then
# its pytest suite and the example script in quick mode.
# It fails, loudly, when any step cannot run (no python3, no PyPI): the
# Python package is part of what is tested, never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'ci/python-test.sh: %s\n' "$*" >&2; exit 1; }

step "Python package: virtual environment"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || die "no $PYTHON: the Python package needs Python 3.9 or later"
venv=target/python-venv
rm -rf "$venv"
"$PYTHON" -m venv "$venv" || die "cannot make a virtual environment with $PYTHON -m venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" "pytest>=7" \
    || die "cannot install maturin and pytest from PyPI into $venv"

step "Python package: build the wheel (maturin, dev profile)"
rm -rf target/wheels
CARGO_TARGET_DIR=target/python "$venv/bin/maturin" build --manifest-path python/Cargo.toml --profile dev \
    --compatibility linux --out target/wheels
wheel=$(ls target/wheels/tilesim-*.whl)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"

step "Python package: pytest"
# Run from outside the repository, so `import tilesim` finds the installed wheel.
(cd target && TILESIM_BIN="$PWD/debug/tilesim" "../$venv/bin/python" -m pytest ../python/tests -q)

step "Python package: examples/python/compare_chips.py --quick"
"$venv/bin/python" examples/python/compare_chips.py --quick --out target/example-python
