#!/usr/bin/env bash
# Idempotent installer for everything the compatibility harnesses need.
# Debian 12: apt packages for ZooKeeper 3.8 (server, zkCli, C client cli_mt) and Curator 5.4 jars;
# a Python venv (compat/.venv, or $COMPAT_VENV) with kazoo 2.11.0 and its test-suite deps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${COMPAT_VENV:-$here/.venv}"

pkgs=(zookeeper zookeeper-bin libzookeeper-java
      libcurator-client-java libcurator-framework-java libcurator-recipes-java
      default-jdk-headless python3-venv python3-pip tmux zktop)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# a JDK may already be present without the Debian meta package: only javac matters
if command -v javac >/dev/null; then
  missing=("${missing[@]/default-jdk-headless}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  sudo_="" ; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "install-deps: creating venv $venv"
  python3 -m venv "$venv"
fi
req="$here/kazoo/requirements.txt"
stamp="$venv/.requirements.sha"
sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$sum" ]; then
  echo "install-deps: pip install -r $req"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$sum" > "$stamp"
fi
echo "install-deps: ok"
