# Sourced by the benchmark scripts (run.sh, scale.sh): each server they start
# is recorded with `started+=("kind dir")` (kind zk or corral) and stopped by
# `stop_started`, which their exit trap calls, on failure and Ctrl-C too.
# Needs $root and $corral_port.
started=()
stop_started() {
  local entry kind dir
  for entry in "${started[@]+"${started[@]}"}"; do
    kind="${entry%% *}"; dir="${entry#* }"
    if [ "$kind" = zk ]; then "$root/compat/zk/stop.sh" "$dir" || true
    else "$root/compat/corral/ctl.sh" "$corral_port" "$dir" stop || true; fi
  done
}
