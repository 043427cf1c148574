#!/usr/bin/env bash
# run.sh [--quick] [--runs N] [--no-build] [--out FILE] [--keep]
#
# Side-by-side benchmark: Apache ZooKeeper 3.8 (compat/zk/start.sh) vs Corral
# (compat/corral/ctl.sh), one server at a time on fresh data directories, the
# same corral-bench workloads against each. Prints a table of ratios and writes
# it (with the raw JSON lines) to compat/bench/RESULTS.md, or to --out FILE.
#
#   --quick     a few seconds per workload, 1 run, 20k-node load (CI); results
#               go to $WORK/RESULTS.md unless --out is given
#   --runs N    repetitions (default 3; 1 with --quick); server order alternates
#   --no-build  use the existing target/release/{corral,corral-bench}
#   --keep      keep the scratch directory (data dirs, logs, raw JSON)
#
# Exit status: 0 when every server started and every workload finished
# without errors; 1 otherwise (the table is still printed).
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
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

zk_port="${ZK_PORT:-24181}"
corral_port="${CORRAL_PORT:-24182}"
# Pipelined workloads: 32 sessions x 16 in flight = 512 outstanding requests.
conns=32; pipeline=16
if [ "$quick" = 1 ]; then
  runs="${runs:-1}"; warmup=1; secs=2; lat_secs=2; load_count=20000; idle_secs=1
else
  runs="${runs:-3}"; warmup=3; secs=10; lat_secs=5; load_count=200000; idle_secs=5
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/corral-bench.XXXXXX")"
jsonl="$work/results.jsonl"
: > "$jsonl"
[ -n "$out" ] || { if [ "$quick" = 1 ]; then out="$work/RESULTS.md"; else out="$here/RESULTS.md"; fi; }

bench="$root/target/release/corral-bench"
. "$here/started.sh"
cleanup() {
  stop_started
  # The scratch directory holds the data dirs and logs; keep it when asked or when it holds the report.
  if [ "$keep" != 1 ] && [ "$out" != "$work/RESULTS.md" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

log() { echo "[run.sh $(date +%T)] $*" >&2; }
failed=0

if [ "$build" = 1 ]; then
  log "cargo build --release -p corral -p corral-bench"
  (cd "$root" && cargo build --release -p corral -p corral-bench) >&2
fi
[ -x "$bench" ] || { echo "run.sh: $bench missing (build it or drop --no-build)" >&2; exit 1; }
[ -x "${CORRAL_BIN:-$root/target/release/corral}" ] || { echo "run.sh: corral binary missing" >&2; exit 1; }

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }   # utime+stime (fields 14, 15)
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# run_bench KIND RUN ARGS... — one corral-bench invocation, its JSON line appended to results.
run_bench() {
  local kind="$1" run="$2"; shift 2
  local line rc=0
  line="$("$bench" --label "$kind/$run" "$@" 2>>"$work/bench.stderr")" || rc=$?
  echo "$line" >> "$jsonl"
  tail -n 1 "$work/bench.stderr" | sed "s/^/  $kind: /" >&2
  if [ "$rc" != 0 ]; then log "WORKLOAD FAILED ($kind: $*), exit $rc"; failed=1; fi
}

bench_server() {
  local kind="$1" run="$2" port dir pid t0 wait_json start_pid
  dir="$work/$kind-$run"; rm -rf "$dir"; mkdir -p "$dir"
  if [ "$kind" = zk ]; then port="$zk_port"; else port="$corral_port"; fi
  log "run $run: starting $kind on 127.0.0.1:$port ($dir)"
  started+=("$kind $dir")
  t0="$(date +%s%N)"
  if [ "$kind" = zk ]; then
    "$root/compat/zk/start.sh" "$port" "$dir" >"$dir/start.out" 2>"$dir/start.err" &
  else
    "$root/compat/corral/ctl.sh" "$port" "$dir" start >"$dir/start.out" 2>"$dir/start.err" &
  fi
  start_pid=$!
  if ! wait_json="$("$bench" --op wait-ruok --addr "127.0.0.1:$port" --secs 60 --label "$kind/$run" 2>/dev/null)"; then
    wait "$start_pid" || true
    echo "run.sh: $kind did not start: $(cat "$dir/start.err")" >&2; exit 1
  fi
  if ! wait "$start_pid"; then echo "run.sh: $kind start script failed: $(cat "$dir/start.err")" >&2; exit 1; fi
  if [ "$kind" = zk ]; then pid="$(cat "$dir/zk.pid")"; else pid="$(cat "$dir/corral.pid")"; fi
  local comm; comm="$(cat "/proc/$pid/comm")"
  # Durability: both servers must fsync every write before acknowledging it (forceSync=yes is
  # ZooKeeper's default; start.sh sets neither zookeeper.forceSync nor forceSync in zoo.cfg).
  local force_sync=yes
  if [ "$kind" = zk ]; then
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'forceSync=no' || grep -qi '^forceSync *= *no' "$dir/zoo.cfg"; then force_sync=no; fi
  else
    if echo "${CORRAL_ARGS:-}" | grep -q 'force-sync[ =]*no'; then force_sync=no; fi
  fi
  [ "$force_sync" = yes ] || log "WARNING: $kind runs with forceSync=no: write figures are not durable"

  sleep 2   # let start-up work (JIT, background threads) settle before the idle figures
  local rss_idle c0 c1 idle_pct
  rss_idle="$(rss_kb "$pid")"
  c0="$(cpu_ticks "$pid")"; sleep "$idle_secs"; c1="$(cpu_ticks "$pid")"
  idle_pct="$(awk -v a="$c0" -v b="$c1" -v s="$idle_secs" 'BEGIN{printf "%.2f", (b-a)/s}')"   # ticks are 1/100 s
  log "$kind pid $pid ($comm): idle RSS $((rss_idle / 1024)) MB, idle CPU ${idle_pct}%"

  local common=(--addr "127.0.0.1:$port" --server-pid "$pid")
  run_bench "$kind" "$run" "${common[@]}" --op load --count "$load_count" --conns "$conns" --pipeline "$pipeline"
  sleep 2
  local rss_loaded; rss_loaded="$(rss_kb "$pid")"
  log "$kind: RSS after $load_count znodes $((rss_loaded / 1024)) MB"
  local pipe=(--conns "$conns" --pipeline "$pipeline" --secs "$secs" --warmup "$warmup")
  run_bench "$kind" "$run" "${common[@]}" --op get "${pipe[@]}"
  run_bench "$kind" "$run" "${common[@]}" --op set "${pipe[@]}"
  run_bench "$kind" "$run" "${common[@]}" --op mixed "${pipe[@]}"
  run_bench "$kind" "$run" "${common[@]}" --op create "${pipe[@]}"
  run_bench "$kind" "$run" "${common[@]}" --op latency-get --secs "$lat_secs" --warmup 1
  run_bench "$kind" "$run" "${common[@]}" --op latency-create --secs "$lat_secs" --warmup 1

  # Writes per fsync under the pipelined set load, counted with strace (which slows the server,
  # so only the ratio is reported). Skipped when strace is missing or cannot attach.
  local fsyncs="null" fsync_ops="null"
  if [ "$quick" = 0 ] && command -v strace >/dev/null; then
    timeout -s INT 5 strace -f -c -e trace=fsync,fdatasync,sync_file_range,msync -p "$pid" -o "$dir/strace.txt" 2>/dev/null &
    local spid=$!
    sleep 0.5
    local sj
    sj="$("$bench" --label "$kind/$run/strace" "${common[@]}" --op set --conns "$conns" --pipeline "$pipeline" --secs 3 --warmup 0 2>/dev/null || true)"
    wait "$spid" 2>/dev/null || true
    if [ -s "$dir/strace.txt" ]; then
      fsyncs="$(awk '$NF ~ /^(fsync|fdatasync|sync_file_range|msync)$/ {n += $4} END {print n + 0}' "$dir/strace.txt")"
      fsync_ops="$(echo "$sj" | sed -n 's/.*"ops":\([0-9]*\).*/\1/p')"
      [ -n "$fsync_ops" ] || fsync_ops=null
      log "$kind: $fsyncs fsync-family calls during a 3 s set run of $fsync_ops acknowledged writes (under strace)"
    fi
  fi

  printf '{"op":"meta","label":"%s/%s","server":"%s","pid":%s,"comm":"%s","force_sync":"%s","t0_ns":%s,"wait":%s,"rss_idle_kb":%s,"idle_cpu_pct":%s,"rss_loaded_kb":%s,"load_count":%s,"strace_fsyncs":%s,"strace_set_ops":%s}\n' \
    "$kind" "$run" "$kind" "$pid" "$comm" "$force_sync" "$t0" "$wait_json" "$rss_idle" "$idle_pct" "$rss_loaded" "$load_count" "$fsyncs" "$fsync_ops" >> "$jsonl"

  log "stopping $kind"
  if [ "$kind" = zk ]; then "$root/compat/zk/stop.sh" "$dir"; else "$root/compat/corral/ctl.sh" "$port" "$dir" stop; fi
}

for run in $(seq 1 "$runs"); do
  # Alternate the order so slow drift of the shared machine does not favour one server.
  if [ $((run % 2)) = 1 ]; then order="zk corral"; else order="corral zk"; fi
  for kind in $order; do bench_server "$kind" "$run"; done
done

mode=full; [ "$quick" = 1 ] && mode=quick
cmdline="compat/bench/run.sh"; [ "$quick" = 1 ] && cmdline+=" --quick"; cmdline+=" --runs $runs"; [ "$build" = 1 ] || cmdline+=" --no-build"
python3 "$here/table.py" "$jsonl" --mode "$mode" --command "$cmdline" \
  --params "conns=$conns pipeline=$pipeline warmup=${warmup}s secs=${secs}s latency_secs=${lat_secs}s load=$load_count value_size=100" \
  > "$out"
cat "$out"
log "results: $out (raw JSON lines: $jsonl$([ "$keep" = 1 ] || [ "$out" = "$work/RESULTS.md" ] || echo ', deleted on exit'))"
if [ "$failed" != 0 ]; then log "some workloads failed (see the errors column / bench.stderr)"; exit 1; fi
