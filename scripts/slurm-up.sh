#!/usr/bin/env bash
# Starts a single-node Slurm cluster (munged, slurmctld, slurmd) on 127.0.0.1 for tests and demos.
# Usage: scripts/slurm-up.sh DIR      prints "export SLURM_CONF=DIR/slurm.conf" on stdout when the node is idle.
# Stop it with scripts/slurm-down.sh DIR, which stops exactly what this script started, by PID.
# Everything (config, state, spool, logs, pid files) lives under DIR. Running it again on the same DIR
# starts only the daemons that are not running, so a test can stop slurmctld and bring it back.
# Needs root (the daemons run as root, without systemd or cgroups): installs Debian's slurm-wlm and
# munge when missing. Environment: SLURM_CTLD_PORT (6817), SLURMD_PORT (6818), SLURM_PARTITION (debug).
set -euo pipefail

dir="${1:?usage: $0 DIR}"
ctld_port="${SLURM_CTLD_PORT:-6817}"
slurmd_port="${SLURMD_PORT:-6818}"
partition="${SLURM_PARTITION:-debug}"

if [[ $(id -u) -ne 0 ]]; then
  echo "slurm-up.sh: needs root (the single-node test cluster runs its daemons as root)" >&2
  exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >/dev/null
fi

mkdir -p "$dir"/{state,spool,log}
dir="$(cd "$dir" && pwd)"

# A pid file names a live process only if /proc agrees and the process is the daemon we expect.
alive() { # PIDFILE NAME
  [[ -s "$1" ]] || return 1
  local pid; pid="$(cat "$1")"
  [[ -r /proc/$pid/comm ]] && [[ "$(cat /proc/$pid/comm)" == "$2"* ]]
}

# munge: one daemon per machine (its socket is /run/munge). Reuse a working one; otherwise start one
# and remember its pid under DIR, so slurm-down.sh stops it only when this script started it.
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  head -c 1024 /dev/urandom >/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$dir/munged.pid"
fi
munge -n | unmunge | grep -q 'STATUS: *Success'

host="$(hostname -s)"
cpus="$(nproc)"
# Leave half a GiB to the machine, so a test asking for "all the memory" is refused rather than swapping.
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))

cat >"$dir/slurm.conf" <<CONF
# Written by scripts/slurm-up.sh: one node, no accounting, no cgroups.
ClusterName=stratum-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
# Start batch jobs as soon as they are submitted (the default waits up to 3 s to batch them).
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=$partition Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

alive "$dir/slurmctld.pid" slurmctld || /usr/sbin/slurmctld -f "$SLURM_CONF"
alive "$dir/slurmd.pid" slurmd || /usr/sbin/slurmd -f "$SLURM_CONF"

# Ready when the node reports idle or busy (a restart finds it running the jobs it had).
for _ in $(seq 120); do
  if sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.25
done
echo "slurm-up.sh: the node did not become ready; see $dir/log" >&2
sinfo >&2 || true
exit 1
