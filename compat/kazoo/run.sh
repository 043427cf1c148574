#!/usr/bin/env bash
# run.sh HOST:PORT[,HOST:PORT...] [--restart-cmd 'CMD'] [-- extra pytest args]
# Runs kazoo 2.11.0's own test suite (pytest --pyargs kazoo.tests) against HOST:PORT, or against
# an ensemble given as a comma-separated list.
# CMD is called as `CMD stop` / `CMD start` by the tests that restart the server
# (for a real ZooKeeper: compat/zk/ctl.sh PORT DATADIR); with an ensemble as `CMD stop N` /
# `CMD start N` for its N-th server (compat/cluster/ctl3.sh DIR). Without it those tests are skipped.
# Results: $RESULTS_DIR (default compat/results)/$KAZOO_RESULTS_NAME-junit.xml and
# $KAZOO_RESULTS_NAME.log (KAZOO_RESULTS_NAME defaults to kazoo).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
compat="$(dirname "$here")"
target="${1:?usage: run.sh HOST:PORT[,HOST:PORT...] [--restart-cmd CMD] [-- pytest args]}"; shift
restart=""
extra=()
while (($#)); do
  case "$1" in
    --restart-cmd) restart="${2:?}"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) extra+=("$1"); shift ;;
  esac
done
"$compat/install-deps.sh" >/dev/null
venv="${COMPAT_VENV:-$compat/.venv}"
results="${RESULTS_DIR:-$compat/results}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"  # absolute: pytest runs in a temporary directory
name="${KAZOO_RESULTS_NAME:-kazoo}"
xml="$results/$name-junit.xml"

start=$(date +%s)
set +e
# run from an empty directory so pytest's rootdir/conftest discovery can't pick up the repo
work="$(mktemp -d)"
cd "$work"
PYTHONDONTWRITEBYTECODE=1 KAZOO_TARGET="$target" KAZOO_RESTART_CMD="$restart" PYTHONPATH="$here" \
  "$venv/bin/python" -m pytest -p corral_kazoo_plugin --pyargs kazoo.tests \
  -p no:cacheprovider --timeout=300 -q -rfEs --junitxml="$xml" "${extra[@]}" \
  2>&1 | tee "$results/$name.log"
rc=${PIPESTATUS[0]}
set -e
cd / && rm -rf "$work"
secs=$(( $(date +%s) - start ))
"$venv/bin/python" - "$xml" "$secs" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
print(f"KAZOO SUMMARY: passed={passed} failed={n['failures']} errors={n['errors']} "
      f"skipped={n['skipped']} total={n['tests']} wall={sys.argv[2]}s junit={sys.argv[1]}")
PY
exit "$rc"
