#!/usr/bin/env bash
# run-all.sh HOST:PORT [--restart-cmd 'CMD'] — kazoo suite, Curator checks, zkCli, cli_mt in turn.
# Runs every harness even if one fails; exits non-zero if any failed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: run-all.sh HOST:PORT [--restart-cmd CMD]}"; shift
"$here/install-deps.sh"
failed=()
results="${RESULTS_DIR:-$here/results}"; mkdir -p "$results"
: > "$results/run-all.log"
run() { local name="$1"; shift; echo "=== $name"; "$@" 2>&1 | tee -a "$results/run-all.log" || failed+=("$name"); }
run kazoo   "$here/kazoo/run.sh" "$target" "$@"
run curator "$here/curator/run.sh" "$target"
run zkcli   "$here/zkcli/run.sh" "$target"
run cli_mt  "$here/cli_mt/run.sh" "$target"
echo
grep -h 'SUMMARY' "$results/run-all.log" || true
if ((${#failed[@]})); then echo "RUN-ALL: FAILED: ${failed[*]}"; exit 1; fi
echo "RUN-ALL: all harnesses passed"
