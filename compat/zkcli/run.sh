#!/usr/bin/env bash
# run.sh HOST:PORT — drive Debian's zkCli.sh (ZooKeeper 3.8 Java CLI) with scripted sessions and
# compare its normalised output with expected.txt (recorded against Apache ZooKeeper 3.8).
# Session 1 exercises the commands; session 2 (a new session) checks the ephemeral is gone after
# session 1 closed, and digest ACLs from another session. UPDATE=1 re-records expected.txt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:?usage: run.sh HOST:PORT}"
"$here/../install-deps.sh" >/dev/null
results="${RESULTS_DIR:-$here/../results}"; mkdir -p "$results"
zkcli=/usr/share/zookeeper/bin/zkCli.sh

cli() { # run one zkCli session fed from stdin; JVM noise, timestamps, zxids, session ids normalised
  { timeout 120 "$zkcli" -server "$target" 2>&1 || true; } | sed -n '/^Welcome to ZooKeeper!/,$p' | awk '
    /^SLF4J:|^Welcome to ZooKeeper|^JLine support|^WATCHER::$|^$/ {next}
    /^WatchedEvent/ { if ($0 ~ /type:None/) next; ev[n++] = $0; next }   # async: order vs output varies
    # whoami lists identities in no defined order (ZooKeeper keeps them in a hash set)
    /^Auth scheme: User$/ { print; who = 1; next }
    who && /^[a-z]+: / { ids[m++] = $0; next }
    who { flush(); who = 0 }
    { print }
    function flush(  i, j, t) { for (i = 1; i < m; i++) for (j = i; j > 0 && ids[j-1] > ids[j]; j--) { t = ids[j]; ids[j] = ids[j-1]; ids[j-1] = t }
      for (i = 0; i < m; i++) print ids[i]; m = 0 }
    # events for different paths arrive in the server'"'"'s child-listing order (unordered in
    # ZooKeeper: deleteall follows getChildren), so the sorted set of events is compared
    END { if (who) flush()
      for (i = 1; i < n; i++) for (j = i; j > 0 && ev[j-1] > ev[j]; j--) { t = ev[j]; ev[j] = ev[j-1]; ev[j-1] = t }
      for (i = 0; i < n; i++) print "event> " ev[i] }' | sed -E \
    -e 's/^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+/\1 = ZXID/' \
    -e 's/^(ctime|mtime) = .*/\1 = TIME/' \
    -e 's/^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$/ephemeralOwner = SESSION/'
}

# start from a clean slate (output ignored)
echo "deleteall /zkcli-compat" | timeout 120 "$zkcli" -server "$target" >/dev/null 2>&1 || true
{
  echo "### session 1"; cli < "$here/session1.txt"
  echo "### session 2"; cli < "$here/session2.txt"
} > "$results/zkcli.out"

if [ "${UPDATE:-}" = 1 ]; then cp "$results/zkcli.out" "$here/expected.txt"; echo "zkcli: re-recorded expected.txt"; fi
if diff -u "$here/expected.txt" "$results/zkcli.out" > "$results/zkcli.diff"; then
  echo "PASS zkcli: $(grep -vc '^###' "$here/expected.txt") output lines match expected.txt"
  echo "ZKCLI SUMMARY: PASS"
else
  cat "$results/zkcli.diff"
  echo "FAIL zkcli: output differs from expected.txt (diff above, also $results/zkcli.diff)"
  echo "ZKCLI SUMMARY: FAIL"; exit 1
fi
