#!/usr/bin/env bash
# cluster.sh [--quick] [--runs N] [--no-build] [--out FILE] [--keep]
#
# Side-by-side benchmark of two 3-node ensembles: Apache ZooKeeper 3.8 and Corral, each started
# fresh by compat/cluster/cluster.py on 127.0.0.11-13 (client port 2181 each), one ensemble at a
# time, the same corral-bench workloads against each with the sessions spread evenly over the
# three nodes. Prints a table of ratios and writes it (with the raw JSON lines, and the failover
# table of compat/bench/cluster-failover/ when present) to compat/bench/RESULTS-cluster.md.
#
#   --quick     1 run, 1 s warm-up + 3 s per workload (~1-2 min); the report goes to stdout
#               (and $scratch/RESULTS-cluster.md) unless --out is given
#   --runs N    repetitions (default 3; 1 with --quick); the ensemble order alternates
#   --no-build  use the existing corral-bench (see below) instead of building it
#   --out FILE  write the report there
#   --keep      keep the scratch directory (raw JSON, corral-bench stderr, node logs)
#
# Env: CORRAL_BIN (default target/release/corral of this repo; never built here),
#      CORRAL_BENCH (a corral-bench binary; implies --no-build),
#      CARGO_TARGET_DIR (where corral-bench is built; default the repo's target/),
#      CLUSTER_NETNS=0 (stay in the current network namespace instead of a private one).
# Exit status: 0 when both ensembles started and every workload finished without errors;
# 1 otherwise (the table is still printed). Slow is never a failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

quick=0; runs=""; build=1; out=""; keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs="${2:?--runs N}"; shift ;;
    --no-build) build=0 ;;
    --out) out="${2:?--out FILE}"; shift ;;
    --keep) keep=1 ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# 30 sessions (10 per node) x 16 in flight = 480 outstanding requests.
conns=30; pipeline=16
if [ "$quick" = 1 ]; then
  runs="${runs:-1}"; warmup=1; secs=3; lat_secs=2; idle_secs=1
else
  runs="${runs:-3}"; warmup=3; secs=10; lat_secs=5; idle_secs=5
fi

log() { echo "[cluster.sh $(date +%T)] $*" >&2; }
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bench="${CORRAL_BENCH:-$target_dir/release/corral-bench}"
[ -n "${CORRAL_BENCH:-}" ] && build=0
corral_bin="${CORRAL_BIN:-$root/target/release/corral}"
if [ "$build" = 1 ]; then
  log "cargo build --release -p corral-bench (CARGO_TARGET_DIR=$target_dir)"
  (cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build --release -p corral-bench) >&2
fi
[ -x "$bench" ] || { echo "cluster.sh: $bench missing (build it, drop --no-build or set CORRAL_BENCH)" >&2; exit 2; }
[ -x "$corral_bin" ] || { echo "cluster.sh: no corral binary at $corral_bin (set CORRAL_BIN)" >&2; exit 2; }
bench="$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")"
corral_bin="$(cd "$(dirname "$corral_bin")" && pwd)/$(basename "$corral_bin")"
command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ] \
  || { echo "cluster.sh: ZooKeeper 3.8 missing (compat/install-deps.sh)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/corral-bench-cluster.XXXXXX")"
chmod 755 "$work"
jsonl="$work/results.jsonl"
: > "$jsonl"
if [ -z "$out" ]; then
  if [ "$quick" = 1 ]; then out="$work/RESULTS-cluster.md"; else out="$here/RESULTS-cluster.md"; fi
fi

cleanup() {
  # Normally the driver has destroyed every ensemble; this is the backstop for a hard death:
  # kill whatever is still listed in the node pid files (cluster.py records each pid it starts).
  local f pid
  for f in "$work"/*/nodes/pids; do
    [ -f "$f" ] || continue
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null && { kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; }
    done < "$f" || true
  done
  if [ "$keep" != 1 ] && [ "$out" != "$work/RESULTS-cluster.md" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private network namespace when possible: its own lo with 127.0.0.0/8, so the ensembles'
# ports cannot collide with anything else on the machine, and every socket vanishes with it.
. "$root/compat/cluster/netns.sh"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg); netns: $([ ${#netns[@]} -gt 0 ] && echo private || echo host)"
limit=$(( quick == 1 ? 900 : 3600 ))
failed=0
set +e
timeout --foreground --signal=TERM --kill-after=30 "$limit" "${netns[@]}" python3 -B -u "$here/cluster_bench.py" \
  --bench "$bench" --corral-bin "$corral_bin" --jsonl "$jsonl" --scratch "$work" \
  --runs "$runs" --conns "$conns" --pipeline "$pipeline" --warmup "$warmup" --secs "$secs" \
  --lat-secs "$lat_secs" --idle-secs "$idle_secs" $([ "$keep" = 1 ] && echo --keep-logs)
rc=$?
set -e
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
case "$rc" in
  0) ;;
  124|130|137|143) log "interrupted or timed out (exit $rc): no report written"; exit "$rc" ;;
  *) failed=1 ;;
esac

mode=full; [ "$quick" = 1 ] && mode=quick
cmdline="compat/bench/cluster.sh"; [ "$quick" = 1 ] && cmdline+=" --quick"; cmdline+=" --runs $runs"
failover=()
[ "$quick" = 0 ] && [ -d "$here/cluster-failover" ] && failover=(--failover-dir "$here/cluster-failover")
python3 -B "$here/cluster_table.py" "$jsonl" --mode "$mode" --command "$cmdline" --corral-bin "$corral_bin" \
  --params "conns=$conns (10 per node) pipeline=$pipeline warmup=${warmup}s secs=${secs}s latency_secs=${lat_secs}s value_size=100" \
  "${failover[@]}" > "$out"
cat "$out"
log "results: $out (raw JSON lines: $jsonl$([ "$keep" = 1 ] || [ "$out" = "$work/RESULTS-cluster.md" ] || echo ', deleted on exit'))"
if [ "$failed" != 0 ]; then log "some workloads failed (see the errors row / bench.stderr with --keep)"; exit 1; fi
