#!/usr/bin/env bash
# compat/docker/test.sh — the Corral image and docker/compose.yml's three nodes under
# `docker kill` and `docker network disconnect`, with real clients (Curator, kazoo); what is
# checked is in scenario.py. Builds the static binary and the image (docker/build.sh), starts
# the cluster under a project name of its own, and on any exit removes everything it started:
# containers, networks, volumes, the image. Exits 77 (skipped) where no Docker engine runs.
# Env: CARGO_TARGET_DIR, COMPAT_VENV, RESULTS_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
compat="$(dirname "$here")"
root="$(dirname "$compat")"

if ! docker info >/dev/null 2>&1; then
  echo "DOCKER SUMMARY: skipped: no Docker engine runs here (docker info fails)"
  exit 77
fi
if command -v docker-compose >/dev/null; then
  dc=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  dc=(docker compose)
else
  echo "test.sh: a Docker engine runs, but neither docker-compose nor docker compose is installed" >&2
  exit 2
fi
t0=$(date +%s)

"$compat/install-deps.sh" >/dev/null
venv="${COMPAT_VENV:-$compat/.venv}"
results="${RESULTS_DIR:-$compat/results}"
mkdir -p "$results/docker"

# compat/cluster's Curator mutex worker
jbuild="$("$compat/cluster/build-java.sh")"

project="corraltest$$"
image="corral-test:$project"
probe="${project}_probe"
scratch="$(mktemp -d /tmp/corral-docker.XXXXXX)"
scen=""
compose=("${dc[@]}" -p "$project" -f "$root/docker/compose.yml" -f "$here/compose.test.yml")
cleanup() {
  set +e
  [ -n "$scen" ] && kill -0 "$scen" 2>/dev/null && kill -TERM -- "-$scen" 2>/dev/null
  # The clients' logs, and the nodes' (scenario.py's own is already in $results).
  mkdir -p "$results/docker"
  cp "$scratch"/kazoo.log "$scratch"/curator/jvm-*.log "$results/docker/" 2>/dev/null
  if [ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]; then
    timeout 60 "${compose[@]}" logs --no-color >"$results/docker/compose.log" 2>&1
    timeout 120 "${compose[@]}" down -v --remove-orphans -t 3 >/dev/null 2>&1
  fi
  # Backstops, should `down` have left anything of this project.
  docker ps -aq --filter "label=com.docker.compose.project=$project" | xargs -r docker rm -fv >/dev/null 2>&1
  docker network rm "$probe" "${project}_corral" >/dev/null 2>&1
  docker volume ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker volume rm >/dev/null 2>&1
  docker image inspect "$image" >/dev/null 2>&1 && docker rmi -f "$image" >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== docker: static binary and image"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" "$root/docker/build.sh" "$image"
t_built=$(date +%s)

# Three free client ports on 127.0.0.1, and two /24s no network here uses: the cluster's
# and the probe network's (which only a cut-off node joins).
read -r p1 p2 p3 < <("$venv/bin/python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
used="$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' $(docker network ls -q) 2>/dev/null || true)"
subnets=()
for i in $(shuf -i 200-249); do
  net="172.31.$i.0/24"
  grep -qF "$net" <<<"$used" && continue
  # a route to it other than the default one: the host already uses it
  ip -4 route show match "172.31.$i.1" | grep -qv '^default' && continue
  subnets+=("$net")
  [ "${#subnets[@]}" -eq 2 ] && break
done
[ "${#subnets[@]}" -eq 2 ] || { echo "test.sh: no free /24 in 172.31.200-249.0" >&2; exit 1; }
export CORRAL_IMAGE="$image" CORRAL_SUBNET="${subnets[0]}" CORRAL_PUBLISH=127.0.0.1 \
  CORRAL_PORT1="$p1" CORRAL_PORT2="$p2" CORRAL_PORT3="$p3"
docker network create --subnet "${subnets[1]}" --label "com.docker.compose.project=$project" "$probe" >/dev/null

echo "== docker: compose up (project $project, network ${subnets[0]}, ports $p1 $p2 $p3)"
timeout 300 "${compose[@]}" up -d 2>&1 | grep -v '^$' || { echo "test.sh: compose up failed" >&2; exit 1; }
containers="$(for s in zoo1 zoo2 zoo3; do "${compose[@]}" ps -q "$s"; done | xargs docker inspect -f '{{.Name}}' | tr -d / | paste -sd,)"

set +e
# Its own process group, so that cleanup can stop it and its JVMs together.
setsid "$venv/bin/python" -u "$here/scenario.py" --ports "$p1,$p2,$p3" --containers "$containers" \
  --network "${project}_corral" --probe-network "$probe" --java-build "$jbuild" \
  --scratch "$scratch" >"$results/docker/test.log" 2>&1 &
scen=$!
tail -n +1 -f --pid="$scen" "$results/docker/test.log"
wait "$scen"
rc=$?
set -e
scen=""
echo "docker test: build $((t_built - t0)) s, cluster and checks $(( $(date +%s) - t_built )) s; logs in $results/docker/"
[ "$rc" -eq 0 ] || echo "docker test: FAILED (the nodes' logs: $results/docker/compose.log)"
exit "$rc"
