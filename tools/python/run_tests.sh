#!/usr/bin/env bash
# The Python client's tests, as CI runs them: a fresh virtual environment, the package installed
# (not the source tree) with its test extra, and pytest against the real server binary.
#
#   bash tools/python/run_tests.sh [pytest args...]
#
# The server is $MEDGYM_BIN if set; otherwise target/release/medgym, built here with cargo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ -z "${MEDGYM_BIN:-}" ]]; then
  (cd "$repo" && cargo build --release --locked --bin medgym)
  export MEDGYM_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/medgym"
fi

venv="$(mktemp -d "${TMPDIR:-/tmp}/medgym-python.XXXXXX")"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
# setuptools builds in the source tree: drop stale build output so it cannot leak into the wheel.
rm -rf "$here/build" "$here"/*.egg-info
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$here[test]"
rm -rf "$here/build" "$here"/*.egg-info

cd "$here"
# pytest (not `python -m pytest`) keeps the source tree off sys.path, so the installed package
# is what gets tested; the conftest checks that.
MEDGYM_TEST_INSTALLED=1 "$venv/bin/pytest" -p no:cacheprovider "$@"
