#!/usr/bin/env bash
# Builds the Corral image from this checkout without any registry: a statically
# linked corral on `FROM scratch` (see Dockerfile).
#   docker/build.sh [TAG]        default tag: corral:latest
# Honours CARGO_TARGET_DIR. Prints the image's size.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
tag="${1:-corral:latest}"
host="$(rustc -vV | sed -n 's/^host: //p')"
case "$host" in
  *-linux-gnu) ;;
  *) echo "build.sh: needs a *-linux-gnu Rust toolchain, found $host" >&2; exit 2 ;;
esac
# glibc linked statically (+crt-static); an explicit --target keeps the flag
# off build scripts and proc macros, which stay dynamic.
(cd "$root" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$host" --bin corral)
bin="${CARGO_TARGET_DIR:-$root/target}/$host/release/corral"
# A program interpreter means a dynamic binary, which would not start in scratch.
if readelf -l "$bin" | grep -q 'program interpreter'; then
  echo "build.sh: $bin is not statically linked" >&2; exit 1
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/corral"
cp -r "$here/rootfs" "$ctx/rootfs"
mkdir -p "$ctx/dirs/data" "$ctx/dirs/datalog" "$ctx/dirs/conf"
docker build -q -t "$tag" -f "$here/Dockerfile" "$ctx" >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$tag")"
echo "build.sh: built $tag, $((size / 1000)) kB ($(( (size + 500000) / 1000000 )) MB)"
