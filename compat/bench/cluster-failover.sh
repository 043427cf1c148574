#!/usr/bin/env bash
# cluster-failover.sh [--reps N] [--faults LIST] [--targets zk,corral] [--no-update]
#
# The failover side of the cluster comparison: runs the fault harness
# (compat/cluster/run.sh --short --reps N) for ZooKeeper and then for Corral, keeps each
# target's results JSON in compat/bench/cluster-failover/ (cluster-<target>.json, plus
# conditions.json: command, times, load averages, exit status), and regenerates the failover
# section of compat/bench/RESULTS-cluster.md from them with failover_table.py. To regenerate
# the table alone from the stored JSON:
#
#   python3 compat/bench/failover_table.py compat/bench/cluster-failover --update compat/bench/RESULTS-cluster.md
#
# Needs what compat/cluster/run.sh needs (root, iptables, compat/install-deps.sh); CORRAL_BIN
# as there (default target/release/corral). A failing fault run is reported in the table (the
# `passed` column and the list under it), and makes the exit status 1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps=2; faults=""; targets="zk,corral"; update=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="${2:?--reps N}"; shift ;;
    --faults) faults="${2:?--faults LIST}"; shift ;;
    --targets) targets="${2:?--targets LIST}"; shift ;;
    --no-update) update=0 ;;
    *) echo "cluster-failover.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
store="$here/cluster-failover"
mkdir -p "$store"
work="$(mktemp -d "${TMPDIR:-/tmp}/corral-bench-failover.XXXXXX")"
trap 'rm -rf "$work"' EXIT
corral_bin="${CORRAL_BIN:-$root/target/release/corral}"

rc_all=0
cond_args=()
for t in ${targets//,/ }; do
  args=(--target "$t" --short --reps "$reps")
  [ -n "$faults" ] && args+=(--faults "$faults")
  start="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"; la0="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "[cluster-failover.sh $(date +%T)] compat/cluster/run.sh ${args[*]} (load average $la0)" >&2
  mkdir -p "$work/$t"
  set +e
  RESULTS_DIR="$work/$t" CORRAL_BIN="$corral_bin" "$root/compat/cluster/run.sh" "${args[@]}" \
    | grep --line-buffered -E '^(== |CLUSTER SUMMARY|cluster run:|[a-z0-9-]+#[0-9]+ failover:|.*: FAIL)' >&2
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 0 ] || rc_all=1
  end="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"; la1="$(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -f "$work/$t/cluster-$t.json" ]; then
    cp "$work/$t/cluster-$t.json" "$store/cluster-$t.json"
  else
    echo "cluster-failover.sh: no results JSON for $t (exit $rc)" >&2
  fi
  cond_args+=("$t" "compat/cluster/run.sh ${args[*]}" "$start" "$end" "$la0" "$la1" "$rc")
done

# conditions.json: merged with what is there, so one target can be re-run alone
python3 - "$store/conditions.json" "$corral_bin" "${cond_args[@]}" <<'EOF'
import json, os, subprocess, sys
path, corral_bin, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
cond = json.load(open(path)) if os.path.exists(path) else {}
for i in range(0, len(rest), 7):
    t, cmd, start, end, la0, la1, rc = rest[i:i + 7]
    cond[t] = {"command": cmd, "start": start, "end": end, "loadavg_before": la0,
               "loadavg_after": la1, "rc": int(rc)}
    if t == "corral":
        cond["corral_bin"] = corral_bin
        try:
            cond["corral_version"] = subprocess.run([corral_bin, "--version"], capture_output=True,
                                                    text=True, timeout=10).stdout.strip()
        except Exception:
            pass
with open(path, "w") as f:
    json.dump(cond, f, indent=1)
    f.write("\n")
EOF

python3 -B "$here/failover_table.py" "$store"
if [ "$update" = 1 ]; then
  python3 -B "$here/failover_table.py" "$store" --update "$here/RESULTS-cluster.md"
  echo "[cluster-failover.sh] updated the failover section of $here/RESULTS-cluster.md" >&2
fi
exit "$rc_all"
