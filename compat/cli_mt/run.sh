#!/usr/bin/env bash
# run.sh HOST:PORT — drive the ZooKeeper C client's cli_mt (Debian zookeeper-bin) through two
# sessions and check its output line by line (cli_mt answers asynchronously, so each expected
# line must appear, order is not checked; children order is the server's and not checked either).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: run.sh HOST:PORT}"
"$here/../install-deps.sh" >/dev/null
results="${RESULTS_DIR:-$here/../results}"; mkdir -p "$results"
cli=/usr/lib/zookeeper/bin/cli_mt
r=/climt-compat
fails=0

session() { # feed commands one by one (cli_mt reads stdin; give each answer time to arrive)
  for c in "$@"; do echo "$c"; sleep 0.3; done | { timeout 60 "$cli" -h "$target" 2>&1 || true; }
}
expect() { # expect OUTFILE LINE DESCRIPTION
  if grep -qFx -- "$2" "$1"; then echo "PASS cli_mt: $3"; else echo "FAIL cli_mt: $3 (missing line: $2)"; fails=$((fails+1)); fi
}
expect_not() {
  if grep -qFx -- "$2" "$1"; then echo "FAIL cli_mt: $3 (unexpected line: $2)"; fails=$((fails+1)); else echo "PASS cli_mt: $3"; fi
}

# clean slate (ignore output)
session "delete $r/seq-0000000001" "delete $r/seq-0000000002" "delete $r/kid" "delete $r" "quit" >/dev/null

s1="$results/cli_mt.session1.out"
session "create $r" "create +e $r/eph" "create +s $r/seq-" "create +s $r/seq-" "create $r/kid" \
  "set $r/kid hello" "get $r/kid" "get $r/eph" "ls $r" "ls2 $r" "exists $r/nope" "delete $r/kid" \
  "get $r/kid" "create $r" "delete $r" "quit" > "$s1"
tab=$'\t'
expect "$s1" "[$r]: rc = 0" "create persistent"
expect "$s1" "Creating [$r/eph] node (mode: 1)" "create +e sends mode EPHEMERAL"
expect "$s1" "${tab}name = $r/eph" "create ephemeral"
expect "$s1" "${tab}name = $r/seq-0000000001" "create +s: first sequential suffix counts earlier child creations"
expect "$s1" "${tab}name = $r/seq-0000000002" "create +s: second sequential suffix"
expect "$s1" "$r/kid: rc = 0 Stat:" "set"
expect "$s1" "${tab}version=1${tab}aversion=0" "set bumps the data version"
expect "$s1" " value_len = 5" "get returns the length"
expect "$s1" "hello" "get returns the data"
if grep -qE "^${tab}ephemeralOwner = [1-9a-f][0-9a-f]*$" "$s1"; then echo "PASS cli_mt: ephemeral has an owner session"
else echo "FAIL cli_mt: ephemeral has an owner session"; fails=$((fails+1)); fi
for kid in eph kid seq-0000000001 seq-0000000002; do expect "$s1" "${tab}$kid" "ls/ls2 lists $kid"; done
expect "$s1" "Error -101 for $r/nope" "exists on a missing node: ZNONODE"
expect "$s1" "Watcher DELETED_EVENT state = CONNECTED_STATE for path $r/kid" "get watch fires on delete"
expect "$s1" "Watcher CHILD_EVENT state = CONNECTED_STATE for path $r" "ls watch fires on child delete"
expect "$s1" "$r/kid: rc = -101" "get after delete: ZNONODE"
expect "$s1" "[$r]: rc = -110" "create existing: ZNODEEXISTS"
expect "$s1" "$r: rc = -111" "delete non-empty: ZNOTEMPTY"

s2="$results/cli_mt.session2.out"
session "ls $r" "delete $r/seq-0000000001" "delete $r/seq-0000000002" "delete $r" "exists $r" "quit" > "$s2"
expect_not "$s2" "${tab}eph" "ephemeral removed when its session closed"
expect "$s2" "${tab}seq-0000000001" "persistent sequential node survives the session"
expect "$s2" "$r/seq-0000000002: rc = 0" "delete"
expect "$s2" "Error -101 for $r" "exists after delete: ZNONODE"

if ((fails)); then echo "CLI_MT SUMMARY: FAIL ($fails)"; exit 1; fi
echo "CLI_MT SUMMARY: PASS"
