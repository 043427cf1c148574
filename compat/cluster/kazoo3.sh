#!/usr/bin/env bash
# kazoo3.sh [--target corral|zk] [pytest args...]
# kazoo 2.11.0's whole test suite (compat/kazoo/run.sh) against a 3-node ensemble on
# 127.0.0.11-13, which this script starts (ctl3.sh, in a fresh temporary directory), hands to
# kazoo's tests as their restart command (`ctl3.sh DIR stop N` / `start N`) and always stops
# and deletes again, also on failure or Ctrl-C.
#   corral (default): $CORRAL_BIN, else target/release/corral of this repo
#   zk:               Apache ZooKeeper 3.8 (Debian), to check the harness itself
# Extra args go to pytest, e.g. -k 'update_host_list or request_queuing'.
# Runs in a private network namespace when it can (`unshare -n`: nothing else on the machine can
# take or disturb 127.0.0.11-13:2181/2888/3888); CLUSTER_NETNS=0 stays in the current one.
# Results: $RESULTS_DIR (default compat/results)/kazoo3-<target>-junit.xml and kazoo3-<target>.log,
# and on failure (or with KAZOO3_KEEP_LOGS=1) each node's server log as kazoo3-<target>-nN.log.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
compat="$(dirname "$here")"
target=corral
if [ "${1:-}" = --target ]; then target="${2:?}"; shift 2; fi
case "$target" in corral|zk) ;; *) echo "usage: kazoo3.sh [--target corral|zk] [pytest args]" >&2; exit 2 ;; esac
export CTL3_TARGET="$target"
# read-only mode on, so kazoo's read-only test runs (the rest never cuts a node off alone)
export CTL3_READ_ONLY="${CTL3_READ_ONLY:-1}"
# reconfig on (super user super:test), so kazoo's reconfig tests run
export CTL3_RECONFIG="${CTL3_RECONFIG:-1}"

"$compat/install-deps.sh" >/dev/null
results="${RESULTS_DIR:-$compat/results}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
export RESULTS_DIR="$results" KAZOO_RESULTS_NAME="kazoo3-$target"

# KAZOO3_DIR: where the nodes live (default a fresh mktemp dir); deleted at the end either way
if [ -n "${KAZOO3_DIR:-}" ]; then dir="$KAZOO3_DIR"; mkdir -p "$dir"; else dir="$(mktemp -d /tmp/corral-kazoo3.XXXXXX)"; fi
dir="$(cd "$dir" && pwd)"
ctl="$here/ctl3.sh"
rc=1
cleanup() {
  "$ctl" "$dir" stop || true
  if [ "$rc" != 0 ] || [ "${KAZOO3_KEEP_LOGS:-0}" = 1 ]; then
    for n in 1 2 3; do
      cp "$dir/n$n/server.log" "$results/kazoo3-$target-n$n.log" 2>/dev/null || true
    done
  fi
  rm -rf "$dir"
}
child=""
stop_child() { if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi; }
trap cleanup EXIT
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM

. "$here/netns.sh"
hosts="127.0.0.11:2181,127.0.0.12:2181,127.0.0.13:2181"
restart="$(printf '%q %q' "$ctl" "$dir")"
start=$(date +%s)
set +e
# The ensemble and the suite in the same namespace; the whole run bounded (kazoo bounds each
# test). In the background with `wait`, so INT/TERM reach our traps at once: they stop the run
# (timeout passes TERM on to its process group), then cleanup stops the nodes.
timeout --signal=TERM --kill-after=30 1800 "${netns[@]}" bash -c \
  '"$1" "$2" start && exec "$3" "$4" --restart-cmd "$5" "${@:6}"' sh \
  "$ctl" "$dir" "$compat/kazoo/run.sh" "$hosts" "$restart" "$@" &
child=$!
wait "$child"
rc=$?
child=""
set -e
echo "kazoo3 ($target, 3 nodes, netns: $([ ${#netns[@]} -gt 0 ] && echo private || echo host)): $(( $(date +%s) - start ))s, exit $rc"
exit "$rc"
