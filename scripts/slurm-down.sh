#!/usr/bin/env bash
# Stop the single-node test cluster started by slurm-up.sh (safe when it is not running).
set -uo pipefail
for daemon in slurmd slurmctld; do
  pidfile=/run/$daemon.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" && echo "slurm-down: stopped $daemon"
  fi
done
if [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
  kill "$(cat /run/munge/munged.pid)" && echo "slurm-down: stopped munged"
fi
exit 0
