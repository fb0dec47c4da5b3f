#!/usr/bin/env bash
# Soak test (issue 11): a release server under many sessions for a long time, to show that it
# stays up, answers without errors and keeps its memory flat.
#
#   tools/soak.sh                                   # 10,000 sessions for 10 minutes
#   tools/soak.sh --sessions 1000 --minutes 0.5     # a 30-second check
#   tools/soak.sh --addr 127.0.0.1:50051 --pid PID  # against a server already running
#
# It builds target/release/medgym (unless $MEDGYM_BIN names a binary), starts `medgym serve` on
# loopback, and runs `medgym soak` against it: every session is played by the `random` baseline
# policy through BatchStep with autoreset, so episodes end and start again for the whole run.
# Every --interval seconds the driver samples the server's VmRSS (/proc/PID/status), steps,
# episodes and errors. Results go to --out (default target/soak):
#   soak.csv      elapsed_s, rss_kib, steps, steps_per_s, episodes, errors per sample
#   soak.svg      RSS and steps/s over time (the warm-up shaded)
#   summary.txt   RSS first/last/max, steady-state start vs end and slope, throughput, errors
#   server.log    the server's log; metrics.txt its Prometheus metrics at the end
# The server is stopped with SIGTERM at the end and must exit cleanly.
#
# Options (all optional):
#   --sessions N        live sessions (default 10000)
#   --minutes M         length of the run, fractions allowed (default 10)
#   --addr HOST:PORT    gRPC address of the server (default 127.0.0.1:50071)
#   --metrics-addr A    its metrics address (default 127.0.0.1:9171)
#   --pid PID           do not start a server: drive the one at --addr with this PID
#   --out DIR           output directory (default target/soak)
#   --max-growth-pct P  fail if steady-state RSS grows more than P percent (default 10)
#   -- ARGS...          passed on to `medgym soak` (e.g. -- --batch 100 --workers 8)
# Traffic goes to loopback only; the run is bounded by --minutes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

sessions=10000
minutes=10
addr=127.0.0.1:50071
metrics_addr=127.0.0.1:9171
pid=""
out="$repo/target/soak"
max_growth=10
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sessions) sessions="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --addr) addr="$2"; shift 2 ;;
    --metrics-addr) metrics_addr="$2"; shift 2 ;;
    --pid) pid="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --max-growth-pct) max_growth="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "${MEDGYM_BIN:-}" ]]; then
  (cd "$repo" && cargo build --release --locked --bin medgym)
  MEDGYM_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/medgym"
fi
mkdir -p "$out"

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}

if [[ -z "$pid" ]]; then
  # Room for every soak session plus the ones a restarted slot opens before the old one expires.
  "$MEDGYM_BIN" serve --addr "$addr" --metrics-addr "$metrics_addr" \
    --max-sessions $((sessions * 2 + 1000)) 2>"$out/server.log" &
  server_pid=$!
  pid=$server_pid
  trap stop_server EXIT
  # The first start builds the knowledge-base index (a few seconds); wait until it listens.
  for _ in $(seq 1 600); do
    grep -q "medgym serving" "$out/server.log" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "soak.sh: the server exited before serving:" >&2
      cat "$out/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  grep -q "medgym serving" "$out/server.log" || { echo "soak.sh: server not serving after 120 s" >&2; exit 1; }
  echo "server PID $pid on $addr (log: $out/server.log)"
fi

status=0
"$MEDGYM_BIN" soak --server "http://$addr" --server-pid "$pid" --sessions "$sessions" \
  --minutes "$minutes" --out "$out" --max-growth-pct "$max_growth" "${extra[@]}" || status=$?

if command -v curl >/dev/null; then
  curl -fsS "http://$metrics_addr/metrics" >"$out/metrics.txt" 2>/dev/null \
    && { echo "server-side errors (medgym_errors_total):"; grep '^medgym_errors_total' "$out/metrics.txt" || echo "  none"; } \
    || echo "(metrics not reachable at $metrics_addr)"
fi

if [[ -n "$server_pid" ]]; then
  kill -TERM "$server_pid"
  if wait "$server_pid"; then
    echo "server stopped cleanly"
  else
    echo "soak.sh: the server exited with status $? on SIGTERM" >&2
    status=1
  fi
  server_pid=""
fi
exit "$status"
