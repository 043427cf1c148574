# Sourced by the scripts that start whole ensembles on 127.0.0.11-13.
# Sets `netns` to a command prefix that runs in a private network namespace
# (its own lo with 127.0.0.0/8: the ensembles' ports cannot collide with
# anything else on the machine, and every socket and iptables rule vanishes
# with it), or to nothing when that is not possible or CLUSTER_NETNS=0.
netns=()
if [ "${CLUSTER_NETNS:-1}" = 1 ] && unshare -n true 2>/dev/null; then
  netns=(unshare -n -- sh -c 'ip link set lo up && exec "$@"' sh)
fi
