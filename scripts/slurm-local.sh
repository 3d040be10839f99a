#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, every file under one folder.
#
#   scripts/slurm-local.sh start   # installs the Debian packages if missing, starts munge,
#                                  # slurmctld and slurmd, waits until a job runs
#   scripts/slurm-local.sh stop    # stops the three daemons by their pid files
#   scripts/slurm-local.sh status
#
# Then `export SLURM_CONF=$DSM_SLURM_DIR/slurm.conf` (printed by start) for sbatch, squeue,
# the Slurm tests and `search_live --executor slurm`. The folder is $DSM_SLURM_DIR
# (default /tmp/dsm-slurm). Needs root (the daemons, and apt-get when the packages are
# missing). Facts behind it: ../shared/notes/slurm.md.
set -euo pipefail

DIR=${DSM_SLURM_DIR:-/tmp/dsm-slurm}
CONF=$DIR/slurm.conf
SOCKET=$DIR/munge/munge.socket
HOST=$(hostname -s)
# Job slots advertised (more than the cores, so that tests run several tiny jobs at once).
SLOTS=${DSM_SLURM_SLOTS:-16}

die() { echo "slurm-local: $*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "Slurm is not installed and installing it needs root (apt-get install slurmctld slurmd slurm-client munge)"
    echo "slurm-local: installing slurmctld slurmd slurm-client munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_conf() {
    local cpus mem
    cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
    [ -n "$cpus" ] && [ -n "$mem" ] || die "slurmd -C did not report CPUs and RealMemory"
    [ "$SLOTS" -ge "$cpus" ] || SLOTS=$cpus
    cat > "$CONF" <<CONF
# Written by scripts/slurm-local.sh: a one-node cluster, every file under $DIR.
ClusterName=dsm-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
MinJobAge=600
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2
SlurmdParameters=config_overrides
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$SLOTS RealMemory=$((mem * 9 / 10)) State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    install_packages
    if pid_alive "$DIR/slurmctld.pid"; then
        die "a cluster from $DIR is already running (scripts/slurm-local.sh stop first)"
    fi
    for port in 6817 6818; do
        port_taken $port && die "port $port is taken: another Slurm is running here; stop it first"
    done
    mkdir -p "$DIR"/{munge,state,spool,log}
    # munge: a fresh key, the daemon as the munge user, its socket in the folder.
    chown munge: "$DIR/munge"
    rm -f "$DIR/munge/munge.key"
    runuser -u munge -- mungekey --create --keyfile="$DIR/munge/munge.key"
    chmod 0600 "$DIR/munge/munge.key"
    runuser -u munge -- /usr/sbin/munged --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed"
    munge -n -S "$SOCKET" | unmunge -S "$SOCKET" >/dev/null || die "munge self-test failed (see $DIR/munge/munged.log)"
    cp "$DIR/munge/munged.pid" "$DIR/munged.pid"
    write_conf
    export SLURM_CONF=$CONF
    slurmctld -c -i -f "$CONF"
    slurmd -f "$CONF" -N "$HOST"
    for _ in $(seq 1 100); do
        [ "$(sinfo -h -N -o %t 2>/dev/null | head -1)" = idle ] && break
        sleep 0.2
    done
    [ "$(sinfo -h -N -o %t | head -1)" = idle ] || die "the node did not come up idle (see $DIR/log/)"
    timeout 60 srun -N1 -n1 -t 1 true || die "a test job did not run (see $DIR/log/)"
    echo "slurm-local: a one-node cluster ($SLOTS slots) runs from $DIR"
    echo "export SLURM_CONF=$CONF"
}

stop() {
    local stopped=0
    for name in slurmd slurmctld munged; do
        local pidfile=$DIR/$name.pid
        if pid_alive "$pidfile"; then
            kill "$(cat "$pidfile")" && stopped=$((stopped + 1))
        fi
    done
    for _ in $(seq 1 50); do
        pid_alive "$DIR/slurmctld.pid" || pid_alive "$DIR/slurmd.pid" || pid_alive "$DIR/munged.pid" || break
        sleep 0.1
    done
    rm -f "$DIR"/{slurmd,slurmctld,munged}.pid
    echo "slurm-local: stopped $stopped daemon(s) of $DIR"
}

status() {
    for name in munged slurmctld slurmd; do
        if pid_alive "$DIR/$name.pid"; then echo "$name: running (pid $(cat "$DIR/$name.pid"))"; else echo "$name: stopped"; fi
    done
    if pid_alive "$DIR/slurmctld.pid"; then SLURM_CONF=$CONF sinfo; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
