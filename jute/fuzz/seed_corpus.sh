#!/bin/sh
# Seed the decode_frame corpus from the golden fixtures.
#
# Each `C <hex>` line of jute/tests/fixtures/*.frames is a whole client frame
# (length prefix included). For every fixture file this writes:
#   - one seed per C frame on its own (the first is a handshake, the others
#     are decoded as handshakes too, which still exercises the codec), and
#   - stream seeds: the file's first C frame (the ConnectRequest) followed by
#     the next few C frames, so the fuzzer starts from real sessions.
# Usage: jute/fuzz/seed_corpus.sh   (from anywhere; needs sh, sed, xxd)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../tests/fixtures"
out="$here/corpus/decode_frame"
per_stream=${PER_STREAM:-4}
mkdir -p "$out"

unhex() { xxd -r -p; }

for f in "$fixtures"/*.frames; do
    name=$(basename "$f" .frames)
    frames=$(sed -n 's/^C \([0-9a-f]*\)$/\1/p' "$f")
    [ -n "$frames" ] || continue
    connect=$(printf '%s\n' "$frames" | head -n 1)

    n=0
    printf '%s\n' "$frames" | while IFS= read -r hex; do
        printf '%s' "$hex" | unhex >"$out/$name-$n"
        n=$((n + 1))
    done

    # Streams: connect + frames 1..k, connect + frames k+1..2k, ...
    total=$(printf '%s\n' "$frames" | wc -l)
    start=2
    s=0
    while [ "$start" -le "$total" ]; do
        end=$((start + per_stream - 1))
        {
            printf '%s' "$connect"
            printf '%s\n' "$frames" | sed -n "${start},${end}p" | tr -d '\n'
        } | unhex >"$out/$name-stream-$s"
        start=$((end + 1))
        s=$((s + 1))
    done
    # A session with only the handshake.
    [ "$total" -gt 1 ] || printf '%s' "$connect" | unhex >"$out/$name-stream-0"
done

echo "$(ls "$out" | wc -l) seeds in $out"
