#!/usr/bin/env bash
# run.sh --target zk|corral [--short|--long] [--faults LIST] [--reps N] [--upgrade-from OLD_BIN]
# Process-level fault tests of a 3-node ensemble on 127.0.0.11-13 (see README.md).
# zk: Apache ZooKeeper 3.8 (Debian); corral: $CORRAL_BIN (default target/release/corral of this repo).
# Env: RESULTS_DIR (default compat/results), COMPAT_VENV, CARGO_TARGET_DIR (where lincheck is built),
#      CLUSTER_NETNS=0 (stay in the current network namespace), CLUSTER_NODE_UIDS=0 (run nodes as root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
compat="$(dirname "$here")"
root="$(dirname "$compat")"
usage() { echo "usage: run.sh --target zk|corral [--short|--long] [--faults LIST] [--reps N] [--upgrade-from OLD_BIN]" >&2; exit 2; }
target=""; profile="--short"; extra=()
while (($#)); do
  case "$1" in
    --target) target="${2:?}"; shift 2 ;;
    --short|--long) profile="$1"; shift ;;
    --faults|--reps|--upgrade-from) extra+=("$1" "${2:?}"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done
case "$target" in zk|corral) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (iptables, per-node uids)" >&2; exit 2; }

"$compat/install-deps.sh" >/dev/null
venv="${COMPAT_VENV:-$compat/.venv}"
results="${RESULTS_DIR:-$compat/results}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# lincheck (the linearizability checker of the register workload)
cargo build -q --release --manifest-path "$compat/lincheck/Cargo.toml"
lincheck="$CARGO_TARGET_DIR/release/lincheck"

# the Curator mutex worker (javac against Debian's Curator 5.4 / ZooKeeper 3.8 jars)
jbuild="$("$here/build-java.sh")"

corral_bin=""
if [ "$target" = corral ]; then
  corral_bin="${CORRAL_BIN:-$root/target/release/corral}"
  [ -x "$corral_bin" ] || { echo "run.sh: no corral binary at $corral_bin (cargo build --release, or set CORRAL_BIN)" >&2; exit 2; }
  corral_bin="$(cd "$(dirname "$corral_bin")" && pwd)/$(basename "$corral_bin")"
fi

# the checkers' own tests first: each checker must fail a bad history
echo "== checker unit tests"
if ! out="$(cd "$here" && LINCHECK_BIN="$lincheck" "$venv/bin/python" -m unittest test_checkers 2>&1)"; then
  echo "$out"; echo "run.sh: checker unit tests failed"
  echo "CLUSTER SUMMARY: target=$target faults=0 passed=0 failed=1"; exit 1
fi
echo "$out" | tail -3 | grep -v '^$'

scratch="$(mktemp -d /tmp/corral-cluster.XXXXXX)"
chmod 755 "$scratch"
run_id="$$"
chain="CORRAL-CLU-$run_id"
cleanup() {
  # normally the harness has done all of this; this is the backstop for a hard death
  if [ -f "$scratch/nodes/pids" ]; then
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null && { kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; }
    done < "$scratch/nodes/pids" || true
  fi
  if iptables -w 5 -n -L "$chain" >/dev/null 2>&1; then
    iptables -w 5 -D OUTPUT -o lo -j "$chain" 2>/dev/null || true
    iptables -w 5 -F "$chain" 2>/dev/null || true
    iptables -w 5 -X "$chain" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private network namespace (when possible): the iptables chain and every socket live there and
# vanish with it. Its lo carries the whole 127.0.0.0/8, like the host's.
. "$here/netns.sh"
limit=1800; [ "$profile" = --long ] && limit=7200
start=$(date +%s)
set +e
# --foreground keeps the harness in this process group, so Ctrl-C reaches it (it then cleans up);
# tee ignores SIGINT so the harness can still print while it does.
timeout --foreground --signal=TERM --kill-after=60 "$limit" "${netns[@]}" "$venv/bin/python" -u "$here/harness.py" \
  --target "$target" "$profile" "${extra[@]}" --lincheck "$lincheck" --java-build "$jbuild" \
  --results-dir "$results" --run-id "$run_id" --scratch "$scratch" \
  ${corral_bin:+--corral-bin "$corral_bin"} 2>&1 | (trap '' INT; exec tee "$results/cluster-$target.log")
rc=${PIPESTATUS[0]}
set -e
echo "cluster run: $(( $(date +%s) - start ))s (netns: $([ ${#netns[@]} -gt 0 ] && echo private || echo host)), results in $results/cluster-$target.{md,json,log}"
exit "$rc"
