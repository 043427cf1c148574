#!/usr/bin/env bash
# session-churn.sh [session-churn flags...] — start the release Corral on a
# fresh data dir (loopback, no per-IP limit, every four-letter word), open and
# close sessions in rounds (default 8 × 10,000, 1,000 at a time) and print the
# server's RSS after each round. Stops the server on exit.
#
#   compat/bench/session-churn.sh                       # builds first
#   NO_BUILD=1 compat/bench/session-churn.sh --rounds 2
#   CORRAL_BIN=/path/to/corral CHURN_PORT=24190 compat/bench/session-churn.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${CHURN_PORT:-24190}"
export CORRAL_BIN="${CORRAL_BIN:-$root/target/release/corral}"
churn="${CHURN_BIN:-$root/target/release/session-churn}"

if [ -z "${NO_BUILD:-}" ]; then
  (cd "$root" && cargo build --release --bin corral -p corral --quiet \
    && cargo build --release -p corral-bench --bin session-churn --quiet)
fi

# 1,000 sessions at a time need ~1,000 sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

dir="$(mktemp -d /tmp/session-churn.XXXXXX)"
cleanup() {
  "$root/compat/corral/ctl.sh" "$port" "$dir" stop || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$root/compat/corral/ctl.sh" "$port" "$dir" start
pid="$(cat "$dir/corral.pid")"
"$churn" --addr "127.0.0.1:$port" --server-pid "$pid" "$@"
