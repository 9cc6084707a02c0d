#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests and trying sweeps: `scripts/slurm_local.sh start|stop|status`.
#
# Needs root. Installs the Debian packages `slurm-wlm` and `munge` when missing, writes a munge key (mode 400,
# owned by munge) when there is none, starts `munged` as the munge user, writes a minimal slurm.conf (one node
# with this machine's CPUs and RealMemory as `slurmd -C` reports them, one partition `debug`), then starts
# `slurmctld` and `slurmd` in the foreground under nohup and records their PIDs. `stop` cancels the cluster's
# jobs and ends exactly the PIDs `start` recorded; it never kills daemons by name.
#
# State, logs and PIDs live in $BABYBIAS_SLURM_DIR (default $TMPDIR/babybias-slurm, else the system temp dir). The config is written to
# /etc/slurm/slurm.conf (where every Slurm client looks) only if that file is absent or was written by this
# script, so a machine's real Slurm configuration is never overwritten.
set -euo pipefail

STATE_DIR=${BABYBIAS_SLURM_DIR:-${TMPDIR:-/tmp}/babybias-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by babybias scripts/slurm_local.sh"
PARTITION=debug

log() { echo "slurm_local: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

read_pid() { [[ -f "$STATE_DIR/$1.pid" ]] && cat "$STATE_DIR/$1.pid" || true; }

ensure_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  log "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$STATE_DIR/apt.log" 2>&1 \
    && apt-get install -y -q slurm-wlm munge >>"$STATE_DIR/apt.log" 2>&1 \
    || die "could not install slurm-wlm and munge (see $STATE_DIR/apt.log)"
}

ensure_munge() {
  local key=/etc/munge/munge.key
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [[ ! -s $key ]]; then
    log "creating munge key $key"
    dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
  fi
  chown munge:munge "$key"
  chmod 0400 "$key"
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    return  # a munged is already serving this machine (ours from an earlier start, or the system's)
  fi
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  # --foreground so that $! is munged itself; runuser drops to the munge user without a login shell.
  nohup setsid runuser -u munge -- munged --foreground --force \
    --log-file=/var/log/munge/munged.log >"$STATE_DIR/munged.out" 2>&1 &
  echo $! >"$STATE_DIR/munged.pid"
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.2
  done
  die "munged did not come up (see /var/log/munge/munged.log)"
}

write_conf() {
  if [[ -f $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to replace a real Slurm configuration"
  fi
  local host node
  host=$(hostname -s)
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  node=$(slurmd -C | head -n1)
  [[ $node == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
  install -d -m 0755 /etc/slurm "$STATE_DIR/state" "$STATE_DIR/spool"
  cat >"$CONF" <<EOF
$MARKER ($(date -u +%FT%TZ)); state in $STATE_DIR
ClusterName=babybias
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after cred_expire seconds (default 120): short, so preemption tests are quick
AuthInfo=cred_expire=5
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/slurmd.daemon.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# CPUs (not whole cores) and memory are consumable, so several 1-CPU jobs run side by side.
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
# schedule often: a one-node test cluster has nothing to batch up
SchedulerParameters=sched_interval=2,bf_interval=1
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
# finished jobs stay visible to squeue/scontrol for 10 minutes (there is no accounting database for sacct)
MinJobAge=600
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_daemon() {  # name, command...
  local name=$1; shift
  local pid
  pid=$(read_pid "$name")
  if pid_alive "$pid"; then
    log "$name already running (pid $pid)"
    return
  fi
  nohup setsid "$@" >"$STATE_DIR/$name.out" 2>&1 &
  echo $! >"$STATE_DIR/$name.pid"
}

cmd_start() {
  [[ $(id -u) == 0 ]] || die "must run as root (it starts munged, slurmctld and slurmd)"
  mkdir -p "$STATE_DIR"
  ensure_packages
  ensure_munge
  if ! pid_alive "$(read_pid slurmctld)"; then
    write_conf
  fi
  # -c: start from a clean state (no jobs left over from an earlier cluster)
  start_daemon slurmctld slurmctld -D -c
  start_daemon slurmd slurmd -D
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -p "$PARTITION" -o %T 2>/dev/null | head -n1 || true)
    if [[ $state == idle* || $state == mixed* || $state == allocated* ]]; then
      log "up: partition $PARTITION is $state ($(slurmd -C | head -n1 | cut -d' ' -f2,7))"
      return
    fi
    for d in slurmctld slurmd; do
      pid_alive "$(read_pid $d)" || die "$d exited (see $STATE_DIR/$d.log and $STATE_DIR/$d.out)"
    done
    sleep 0.5
  done
  die "node did not become idle within 60 s (state '$state'; see $STATE_DIR/*.log)"
}

stop_pid() {  # name
  local name=$1 pid
  pid=$(read_pid "$name")
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do pid_alive "$pid" || break; sleep 0.2; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$STATE_DIR/$name.pid"
}

cmd_stop() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  if pid_alive "$(read_pid slurmctld)"; then
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${jobs// } ]]; then
      log "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 40); do [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break; sleep 0.5; done
    fi
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid munged
}

cmd_status() {
  local rc=0
  for d in munged slurmctld slurmd; do
    local pid
    pid=$(read_pid $d)
    if pid_alive "$pid"; then echo "$d: running (pid $pid)"; else echo "$d: not running"; rc=1; fi
  done
  if [[ $rc == 0 ]]; then sinfo; squeue; fi
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status   (state in \$BABYBIAS_SLURM_DIR, default $TMPDIR/babybias-slurm)" >&2; exit 2 ;;
esac
