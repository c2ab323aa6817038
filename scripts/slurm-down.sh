#!/usr/bin/env bash
# Stops the daemons scripts/slurm-up.sh DIR started, by the pids it recorded under DIR, and waits for them.
# munged is stopped only when slurm-up.sh started it (DIR/munged.pid); one that was already running stays.
set -uo pipefail
dir="${1:?usage: $0 DIR}"

stop() { # PIDFILE NAME
  [[ -s "$1" ]] || return 0
  local pid; pid="$(cat "$1")"
  # Only the daemon we expect: a stale pid file may name a pid the kernel has since given to another process.
  [[ -r /proc/$pid/comm && "$(cat /proc/$pid/comm)" == "$2"* ]] || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do [[ -d /proc/$pid ]] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

stop "$dir/slurmd.pid" slurmd
stop "$dir/slurmctld.pid" slurmctld
stop "$dir/munged.pid" munged
rm -f "$dir/munged.pid"
exit 0
