#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (slurmctld + slurmd + munge), for tests.
#
# Installs Debian's slurm-wlm and munge with apt-get when they are missing (needs root), writes a
# minimal slurm.conf (one node = this host, one partition "debug", no cgroups:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, no accounting database) and starts
# the daemons. Idempotent: when the cluster already answers, it only says so.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/spool/stbench-slurm
HOST=$(hostname -s)

log() { echo "slurm-up: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "slurm-up: needs root (apt-get and the daemons run as root)" >&2
  exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

running() {
  pgrep -x munged >/dev/null && pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null &&
    sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" /var/log/slurm /run/munge /etc/munge
# munge: a key, then the daemon (it refuses to start with loose permissions)
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- munged --force
fi

CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2/1024*0.9)}' /proc/meminfo)
NEW_CONF=$(mktemp)
cat > "$NEW_CONF" <<CONF
# written by stbench scripts/slurm-up.sh: a single-node test cluster
ClusterName=stbench
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# how long a requeued job waits before it may start again (and a step credential's lifetime):
# 120 s by default; 30 s still covers a step launch on a loaded 2-core machine
AuthInfo=cred_expire=30
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=30
KillWait=5
Waittime=0
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
if running && cmp -s "$NEW_CONF" "$CONF_DIR/slurm.conf"; then
  rm -f "$NEW_CONF"
  log "already running ($(sinfo -h -o '%P %D %T' | head -1))"
  exit 0
fi
if running; then
  log "restarting: slurm.conf changed"
  pkill -x slurmd || true
  pkill -x slurmctld || true
  for _ in $(seq 1 20); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.5; done
fi
mv "$NEW_CONF" "$CONF_DIR/slurm.conf"
chmod 0644 "$CONF_DIR/slurm.conf"
rm -f "$CONF_DIR/cgroup.conf"  # no cgroup settings: proctrack/linuxproc and task/none need none

pgrep -x slurmctld >/dev/null || slurmctld -c 2>/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
  if running; then
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
    log "up: $(sinfo -h -o '%P %D %T %c cpus')"
    exit 0
  fi
  scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm-up: the cluster did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
exit 1
