#!/usr/bin/env bash
# The long robustness run: every parser's property tests with a million cases each, in release.
# CI runs the same tests with proptest's default of 256 cases (.ci/run, `cargo test`).
#
#   tools/nightly.sh                 # PROPTEST_CASES=1000000
#   PROPTEST_CASES=10000 tools/nightly.sh
#   tools/nightly.sh resolve config   # only the suites whose line mentions a word given
#
# Prints each suite's wall time; the figures of the last recorded run are in docs/validity.md.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES="${PROPTEST_CASES:-1000000}"
# A million cases must not stop at proptest's default cap of rejected inputs.
export PROPTEST_MAX_GLOBAL_REJECTS="${PROPTEST_MAX_GLOBAL_REJECTS:-1000000}"

suites=(
  # crate        cargo test selector                      what it parses
  "medgym-env    --lib action::tests                      agent action text (tool calls, tags)"
  "medgym-clinic --lib text::tests                        text normalisation under diagnosis names"
  "medgym-clinic --test resolve                           diagnosis names, codes and ids"
  "medgym-server --test config                            the TOML server config"
  "medgym-server --test harness                           Step/Reset requests from raw bytes (the fuzz harness)"
)

cargo build --release --locked --tests -p medgym-env -p medgym-clinic -p medgym-server

echo "PROPTEST_CASES=$PROPTEST_CASES"
total_start=$(date +%s)
failed=()
for s in "${suites[@]}"; do
  read -r crate kind target what <<<"$s"
  if [ $# -gt 0 ]; then
    wanted=no
    for word in "$@"; do
      case "$s" in *"$word"*) wanted=yes ;; esac
    done
    [ "$wanted" = yes ] || continue
  fi
  start=$(date +%s)
  # Keep going after a failure: one broken parser should not hide the others' results.
  if [ "$kind" = "--lib" ]; then
    cargo test --release --locked -q -p "$crate" --lib "$target" || failed+=("$crate $target")
  else
    cargo test --release --locked -q -p "$crate" --test "$target" || failed+=("$crate $target")
  fi
  echo "== $crate $kind $target ($what): $(( $(date +%s) - start )) s"
done
echo "== all suites: $(( $(date +%s) - total_start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf '== FAILED: %s\n' "${failed[@]}"
  exit 1
fi
