#!/usr/bin/env bash
# scale.sh [--quick] [--out FILE] [--no-build] [--keep]
#
# Issue 11's scale scenarios, side by side: Apache ZooKeeper 3.8 (compat/zk/start.sh)
# and Corral (compat/corral/ctl.sh), each scenario on a freshly started server with a
# fresh data directory, the same corral-bench invocation against each:
#
#   sessions            hold N idle, pinging sessions: RSS per session, and a probe
#                       session's getData p50/p99 before and while they are held
#   watches-data        C sessions × W/C nodes, a getData watch each: RSS per watch;
#                       then one setData per node and the time until every notification
#                       arrived
#   watches-recursive   the same with addWatch (op 106) PERSISTENT_RECURSIVE on each node
#
#   full:    N = 10,000 sessions held 30 s; W = 1,000,000 watches, C = 100   (~3 min)
#   --quick: N = 2,000 sessions held 12 s;  W = 100,000 watches, C = 20      (~1.5 min)
#
# Prints a Markdown table (metric, ZooKeeper, Corral, ratio; > 1 = Corral better) and
# writes it with the raw JSON lines to --out FILE (default: compat/bench/RESULTS-scale.md
# for the full form, the scratch directory for --quick).
#
#   --no-build  use the existing binaries
#   --keep      keep the scratch directory (data dirs, server logs, raw JSON, bench.stderr)
#
# Ports: ZK_PORT (default 24181), CORRAL_PORT (24182). Binaries: CORRAL_BIN and
# CORRAL_BENCH, by default target/release/{corral,corral-bench} (under $CARGO_TARGET_DIR
# when that is set). The build is `cargo build --release -p corral -p corral-bench`.
# Every server started is stopped on exit, including on failure or Ctrl-C.
#
# Exit status: 0 when every server started and every scenario finished without errors,
# lost sessions or missing notifications; 1 otherwise (the table is still printed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

quick=0; build=1; out=""; keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --out) out="${2:?--out FILE}"; shift ;;
    --keep) keep=1 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

zk_port="${ZK_PORT:-24181}"
corral_port="${CORRAL_PORT:-24182}"
if [ "$quick" = 1 ]; then
  sessions=2000; hold_secs=12; watches=100000; watch_conns=20
else
  sessions=10000; hold_secs=30; watches=1000000; watch_conns=100
fi
# A 10 s session timeout (ZooKeeper grants 4-40 s with tickTime 2000, Corral the same):
# each session pings every 3.3 s, so a held session that stopped pinging would expire
# within the hold.
timeout_ms=10000
scenarios=(sessions watches-data watches-recursive)

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
bench="${CORRAL_BENCH:-$target/release/corral-bench}"
export CORRAL_BIN="${CORRAL_BIN:-$target/release/corral}"

work="$(mktemp -d "${TMPDIR:-/tmp}/corral-scale.XXXXXX")"
jsonl="$work/results.jsonl"
: > "$jsonl"
[ -n "$out" ] || { if [ "$quick" = 1 ]; then out="$work/RESULTS-scale.md"; else out="$here/RESULTS-scale.md"; fi; }

. "$here/started.sh"
cleanup() {
  stop_started
  if [ "$keep" != 1 ] && [ "$out" != "$work/RESULTS-scale.md" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[scale.sh $(date +%T)] $*" >&2; }
failed=0
t_start="$(date +%s)"

if [ "$build" = 1 ]; then
  log "cargo build --release -p corral -p corral-bench"
  (cd "$root" && cargo build --release -p corral -p corral-bench) >&2
fi
[ -x "$bench" ] || { echo "scale.sh: $bench missing (build it or drop --no-build)" >&2; exit 1; }
[ -x "$CORRAL_BIN" ] || { echo "scale.sh: $CORRAL_BIN missing" >&2; exit 1; }

# The client holds one socket per session, and so does the server (it inherits this limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((sessions + 200)) ]; then
  echo "scale.sh: ulimit -n is $(ulimit -n); $sessions sessions need at least $((sessions + 200))" >&2
  exit 1
fi

# jstat -gc of a JVM as one JSON object (null when jstat is missing or cannot attach).
jvm_gc() {
  local text
  if ! command -v jstat >/dev/null || ! text="$(jstat -gc "$1" 2>/dev/null)"; then echo null; return; fi
  echo "$text" | awk 'NR==1 {for (i = 1; i <= NF; i++) h[i] = $i}
    NR==2 {printf "{"; for (i = 1; i <= NF; i++) {v = ($i ~ /^[0-9.]+$/) ? $i : "null";
      printf "%s\"%s\":%s", (i > 1 ? "," : ""), h[i], v}; printf "}"}
    END {if (NR < 2) printf "null"}'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

run_scenario() {
  local kind="$1" scen="$2" port dir pid
  dir="$work/$kind-$scen"; rm -rf "$dir"; mkdir -p "$dir"
  if [ "$kind" = zk ]; then port="$zk_port"; else port="$corral_port"; fi
  log "$scen: starting $kind on 127.0.0.1:$port ($dir)"
  started+=("$kind $dir")
  if [ "$kind" = zk ]; then
    "$root/compat/zk/start.sh" "$port" "$dir" >"$dir/start.out" 2>"$dir/start.err" \
      || { echo "scale.sh: zk did not start: $(cat "$dir/start.err")" >&2; exit 1; }
    pid="$(cat "$dir/zk.pid")"
  else
    "$root/compat/corral/ctl.sh" "$port" "$dir" start >"$dir/start.out" 2>"$dir/start.err" \
      || { echo "scale.sh: corral did not start: $(cat "$dir/start.err")" >&2; exit 1; }
    pid="$(cat "$dir/corral.pid")"
  fi
  # ZooKeeper answers imok before it serves sessions: wait for a served session.
  if ! "$bench" --op wait-ruok --addr "127.0.0.1:$port" --secs 60 >/dev/null 2>>"$work/bench.stderr"; then
    echo "scale.sh: $kind answers no session on $port" >&2; exit 1
  fi
  sleep 2   # start-up work (JIT, background threads) settles
  local comm xmx="" gcname="" gc0 gc1 load0 load1 t0 t1
  comm="$(cat "/proc/$pid/comm")"
  if [ "$kind" = zk ]; then
    xmx="$(tr '\0' '\n' < "/proc/$pid/cmdline" | grep -m1 '^-Xmx' || true)"
    gcname="$(jcmd "$pid" VM.flags 2>/dev/null | grep -o -- '-XX:+Use[A-Za-z0-9]*GC' | head -1 || true)"
    gc0="$(jvm_gc "$pid")"
  else
    gc0=null
  fi
  load0="$(loadavg)"; t0="$(date +%s.%N)"
  local args=(--addr "127.0.0.1:$port" --server-pid "$pid" --label "$kind/$scen"
              --session-timeout-ms "$timeout_ms" --stall-secs 60)
  case "$scen" in
    sessions) args+=(--op sessions --count "$sessions" --secs "$hold_secs") ;;
    watches-data) args+=(--op watches --count "$watches" --conns "$watch_conns" --watch-kind data) ;;
    watches-recursive) args+=(--op watches --count "$watches" --conns "$watch_conns" --watch-kind recursive) ;;
  esac
  local line rc=0
  echo "$kind/$scen: $bench ${args[*]}" >> "$work/bench.stderr"
  line="$(timeout 1200 "$bench" "${args[@]}" 2>>"$work/bench.stderr")" || rc=$?
  [ -n "$line" ] || line="{\"op\":\"${scen%%-*}\",\"label\":\"$kind/$scen\",\"fatal\":\"no output (exit $rc)\"}"
  echo "$line" >> "$jsonl"
  tail -n 1 "$work/bench.stderr" | sed "s/^/  $kind: /" >&2
  if [ "$rc" != 0 ]; then log "SCENARIO FAILED ($kind $scen), exit $rc"; failed=1; fi
  t1="$(date +%s.%N)"; load1="$(loadavg)"
  if [ "$kind" = zk ]; then gc1="$(jvm_gc "$pid")"; else gc1=null; fi
  printf '{"op":"meta","label":"%s/%s","server":"%s","scenario":"%s","pid":%s,"comm":"%s","xmx":"%s","gc":"%s","gc_before":%s,"gc_after":%s,"load_before":"%s","load_after":"%s","elapsed_s":%s}\n' \
    "$kind" "$scen" "$kind" "$scen" "$pid" "$comm" "$xmx" "$gcname" "$gc0" "$gc1" "$load0" "$load1" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')" >> "$jsonl"
  if [ "$kind" = zk ] && ! kill -0 "$pid" 2>/dev/null; then
    log "WARNING: ZooKeeper exited during $scen (see $dir/zk.log)"; failed=1
  fi
  log "stopping $kind"
  if [ "$kind" = zk ]; then "$root/compat/zk/stop.sh" "$dir"; else "$root/compat/corral/ctl.sh" "$port" "$dir" stop; fi
}

for scen in "${scenarios[@]}"; do
  for kind in zk corral; do run_scenario "$kind" "$scen"; done
done

mode=full; [ "$quick" = 1 ] && mode=quick
cmdline="compat/bench/scale.sh"; [ "$quick" = 1 ] && cmdline+=" --quick"; [ "$build" = 1 ] || cmdline+=" --no-build"
python3 "$here/scale_table.py" "$jsonl" --mode "$mode" --command "$cmdline" \
  --elapsed "$(( $(date +%s) - t_start ))" \
  --params "sessions=$sessions hold=${hold_secs}s session_timeout=${timeout_ms}ms watches=$watches watch_conns=$watch_conns open_concurrency=32 pipeline=16" \
  > "$out"
cat "$out"
log "results: $out (raw JSON lines: $jsonl$([ "$keep" = 1 ] || [ "$out" = "$work/RESULTS-scale.md" ] || echo ', deleted on exit'))"
if [ "$failed" != 0 ]; then log "some scenarios failed (see the errors rows / bench.stderr)"; exit 1; fi
