#!/usr/bin/env bash
# A real single-node Slurm for the tests: tests/slurm/cluster.sh start|stop|status
#
# start: installs Debian's slurm-wlm and munge if missing (root only), stops the
# daemons the packages may have started with their own configuration, writes a
# slurm.conf for one node named after this machine with its real core count
# (proctrack/linuxproc, task/none, no cgroups), starts munged (if none runs),
# slurmctld and slurmd, and waits until sinfo shows the node idle. Everything lives
# in $EZPZ_SLURM_DIR (default /tmp/ezpz-slurm); the tests find the cluster by
# $EZPZ_SLURM_DIR/slurm.conf. stop: stops exactly the daemons start started (by
# the pids it recorded). Exit 77 when this cannot work here (not root, no apt).
set -euo pipefail

DIR=${EZPZ_SLURM_DIR:-/tmp/ezpz-slurm}
CONF=$DIR/slurm.conf
PORT_CTLD=${EZPZ_SLURM_PORT:-16817}

say() { echo "cluster.sh: $*" >&2; }

stop_pidfile() {  # the pid recorded in $1, if it is still that daemon
    local file=$1 name=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$name" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        say "slurm-wlm and munge are not installed, and installing them needs root and apt-get"
        exit 77
    fi
    say "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
    # the packages may start their daemons with the packaged configuration
    for name in slurmctld slurmd; do
        command -v service >/dev/null && service "$name" stop >/dev/null 2>&1 || true
        stop_pidfile "/run/$name.pid" "$name"
        stop_pidfile "/var/run/slurm/$name.pid" "$name"
    done
}

start() {
    if [ "$(id -u)" != 0 ]; then say "needs root (slurmd runs jobs as any user)"; exit 77; fi
    install
    mkdir -p "$DIR"/{state,spool,log}
    stop_pidfile "$DIR/slurmctld.pid" slurmctld
    stop_pidfile "$DIR/slurmd.pid" slurmd
    local host cpus
    host=$(hostname -s)
    cpus=$(nproc)
    cat >"$CONF" <<CONF
ClusterName=ezpz
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=$PORT_CTLD
SlurmdPort=$((PORT_CTLD + 1))
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
        if [ ! -s /etc/munge/munge.key ]; then
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
        fi
        chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
        chmod 400 /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged
        for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
        cp /run/munge/munged.pid "$DIR/munged.pid"
    fi
    slurmctld -f "$CONF"
    slurmd -f "$CONF"
    for _ in $(seq 300); do
        if SLURM_CONF=$CONF sinfo -h -N -o %T 2>/dev/null | grep -qx idle; then
            say "up: SLURM_CONF=$CONF ($host, $cpus CPUs)"
            return 0
        fi
        sleep 0.1
    done
    say "the node did not become idle in 30 s; logs in $DIR/log"
    tail -5 "$DIR"/log/*.log >&2 || true
    exit 1
}

stop() {
    stop_pidfile "$DIR/slurmd.pid" slurmd
    stop_pidfile "$DIR/slurmctld.pid" slurmctld
    stop_pidfile "$DIR/munged.pid" munged
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF=$CONF sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
