#!/usr/bin/env bash
# slurm-local.sh start|stop|status -- a REAL one-host Slurm cluster for hpcsched's live tests.
#
# Debian 12 (Slurm 22.05), no systemd needed. `start` installs what is missing (apt), then runs
# munged, mariadbd, slurmdbd, slurmctld and four slurmd (emulated nodes n[1-4], "multiple-slurmd",
# one port each) in the foreground under setsid, each PID recorded in $STATE/pids/<name>.pid.
# `stop` signals only those recorded PIDs (after checking /proc/PID/comm) and waits for them.
# `status` reports each recorded daemon plus `sinfo`; exit 0 only when every daemon is alive.
#
# Cluster: partitions debug (default, MaxTime 30 min) and batch (MaxTime 2 h); QoS normal/high/low;
# account $ACCOUNT with users root, hpcsched (non-root, may submit) and $SUDO_USER if any;
# accounting through slurmdbd + MariaDB so sacct works; sched/backfill with a short bf_interval.
#
# Exit codes: 0 ok, 1 failed, 2 usage, 3 not runnable here (no root, no apt/network, a foreign
# Slurm/munge/MariaDB already running); code 3 prints ONE line "slurm-local: not runnable: <why>"
# on stderr and writes the reason to $STATE/not-runnable.
#
# Env: HPCSCHED_SLURM_STATE (default /tmp/hpcsched-slurm), HPCSCHED_SLURM_CLUSTER (hpcsched),
#      HPCSCHED_SLURM_ACCOUNT (hpcsched), HPCSCHED_SLURM_NODE_CPUS (2), HPCSCHED_SLURM_NODE_MEM_MB
#      (2000), HPCSCHED_SLURM_NO_INSTALL=1 (never call apt-get).
set -euo pipefail

STATE=${HPCSCHED_SLURM_STATE:-/tmp/hpcsched-slurm}
CLUSTER=${HPCSCHED_SLURM_CLUSTER:-hpcsched}
ACCOUNT=${HPCSCHED_SLURM_ACCOUNT:-hpcsched}
NODE_CPUS=${HPCSCHED_SLURM_NODE_CPUS:-2}
NODE_MEM=${HPCSCHED_SLURM_NODE_MEM_MB:-2000}
SUBMIT_USER=hpcsched
# users with an association (AccountingStorageEnforce rejects anyone else); under sudo, the caller too
USERS=root,$SUBMIT_USER
[[ -n ${SUDO_USER:-} && ${SUDO_USER} != root && ${SUDO_USER} != "$SUBMIT_USER" ]] && USERS+=,$SUDO_USER
NODES=(n1 n2 n3 n4)
DAEMONS=(munged mariadbd slurmdbd slurmctld "${NODES[@]/#/slurmd-}")
PACKAGES=(munge mariadb-server slurmdbd slurmctld slurmd slurm-client)
ETC=/etc/slurm
DB_SOCK=/run/mysqld/mysqld.sock
DB_PASS=hpcsched-local   # loopback-only throwaway database
PIDS=$STATE/pids
LOGS=$STATE/logs

say() { printf '[slurm-local %s] %s\n' "$(date +%T)" "$*" >&2; }
# the reason also goes to $STATE/not-runnable, where tests/test_slurm_live.py quotes it
not_runnable() {
  printf 'slurm-local: not runnable: %s\n' "$*" >&2
  { mkdir -p "$STATE" && printf 'slurm-local.sh: %s\n' "$*" >"$STATE/not-runnable"; } 2>/dev/null || true
  exit 3
}
die() { printf 'slurm-local: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

pid_of() { [[ -s $PIDS/$1.pid ]] && cat "$PIDS/$1.pid"; }
# the comm a recorded daemon must have: guards against signalling a recycled PID
comm_for() { case $1 in slurmd-*) echo slurmd ;; *) echo "$1" ;; esac; }
alive() {
  local pid; pid=$(pid_of "$1") || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$(comm_for "$1")" ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_until() {  # wait_until SECONDS DESCRIPTION CMD...
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { say "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

# run NAME CMD...: start a foreground daemon in its own session and record its PID. A background
# child of a non-interactive shell is not a group leader, so setsid execs in place and $! is the
# daemon itself (setpriv also execs).
run() {
  local name=$1; shift
  if alive "$name"; then say "$name already running (pid $(pid_of "$name"))"; return 0; fi
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
  say "started $name (pid $!)"
}

# ------------------------------------------------------------------------------------ install
install_missing() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ ${HPCSCHED_SLURM_NO_INSTALL:-0} == 1 ]] \
    && not_runnable "missing packages: ${missing[*]} (HPCSCHED_SLURM_NO_INSTALL=1)"
  command -v apt-get >/dev/null || not_runnable "missing packages: ${missing[*]} and no apt-get"
  say "installing ${missing[*]}"
  local t0 made_policy=0; t0=$(date +%s.%N)
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then   # no init system: keep postinst from starting services
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  local apt=(apt-get install -y -q --no-install-recommends "${missing[@]}")
  # try the existing package lists first (fast); refresh them only when that fails
  if ! "${apt[@]}" >"$LOGS/apt.log" 2>&1; then
    apt-get update -q >>"$LOGS/apt.log" 2>&1 \
      || not_runnable "apt-get update failed (no network?): $(grep -E '^(E|W):' "$LOGS/apt.log" | tail -1)"
    "${apt[@]}" >>"$LOGS/apt.log" 2>&1 \
      || not_runnable "apt-get install failed: $(grep -E '^E:' "$LOGS/apt.log" | tail -1)"
  fi
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  say "installed in $(since "$t0")s"
}

# refuse to fight daemons this script did not start (e.g. another engineer's cluster)
check_foreign() {
  taken() { not_runnable "port $1 is taken by $2 not started by this script (stop it first)"; }
  alive munged || ! [[ -S /run/munge/munge.socket.2 ]] || ! munge -n >/dev/null 2>&1 \
    || not_runnable "a munged not started by this script is running (stop it first)"
  alive mariadbd || ! port_open 3306 || taken 3306 "a MariaDB/MySQL"
  alive slurmdbd || ! port_open 6819 || taken 6819 "a slurmdbd"
  alive slurmctld || ! port_open 6817 || taken 6817 "a slurmctld"
  local n p=17001
  for n in "${NODES[@]}"; do
    alive "slurmd-$n" || ! port_open $p || taken $p "a process (slurmd $n's port)"
    p=$((p + 1))
  done
}

# ------------------------------------------------------------------------------------ config
write_if_changed() {  # write_if_changed FILE < content ; returns 0 when the file changed
  local tmp; tmp=$(mktemp); cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m 0644 "$tmp" "$1"; rm -f "$tmp"
}

slurm_conf() {
  local host; host=$(hostname -s 2>/dev/null || uname -n); host=${host%%.*}
  cat <<EOF
# written by hpcsched scripts/slurm-local.sh -- changes are overwritten on start
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# no cgroup delegation in containers: track processes by parent PID instead
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
# reject a request over a partition limit at submission instead of leaving it pending forever
EnforcePartLimits=ALL
# four slurmd on one host advertise the configured size, not the machine's
SlurmdParameters=config_overrides
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd-%n.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd/%n
StateSaveLocation=/var/lib/slurm/slurmctld
# no *LogFile: daemons run with -D and log to stderr, captured in $LOGS
SlurmctldDebug=info
SlurmdDebug=info
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
PriorityType=priority/multifactor
PriorityWeightQOS=10000
PriorityWeightPartition=1000
PriorityWeightAge=1000
PriorityWeightFairshare=1000
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageEnforce=associations,limits,qos
# the job's --comment in sacct: hpcsched agents tag a resubmission with it and find it again
# after squeue forgot the job (MinJobAge). Stored with the job's completion record; on a running
# slurmctld, scontrol reconfigure applies it (checked on 22.05.8: scontrol show config, sacct)
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
NodeName=n[1-4] NodeHostname=$host NodeAddr=127.0.0.1 Port=[17001-17004] CPUs=$NODE_CPUS RealMemory=$NODE_MEM State=UNKNOWN
PartitionName=debug Nodes=n[1-4] Default=YES MaxTime=00:30:00 DefaultTime=00:05:00 State=UP
PartitionName=batch Nodes=n[1-4] Default=NO MaxTime=02:00:00 DefaultTime=00:30:00 State=UP
EOF
}

slurmdbd_conf() {
  cat <<EOF
# written by hpcsched scripts/slurm-local.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
}

# ------------------------------------------------------------------------------------ start
start_munge() {
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  run munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground --force
  wait_until 20 munged bash -c 'munge -n | unmunge'
}

start_mariadb() {
  install -d -o mysql -g mysql /run/mysqld
  [[ -d /var/lib/mysql/mysql ]] \
    || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGS/mariadb-install-db.log" 2>&1
  run mariadbd /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=$DB_SOCK \
    --bind-address=127.0.0.1 --port=3306 --skip-name-resolve --innodb-buffer-pool-size=128M \
    --innodb-flush-log-at-trx-commit=0 --innodb-lock-wait-timeout=900
  wait_until 60 mariadbd mariadb-admin --socket=$DB_SOCK ping || return 1
  mariadb --socket=$DB_SOCK -uroot <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

CONF_CHANGED=0
write_configs() {  # before any Slurm command runs: sacctmgr reads slurm.conf too
  mkdir -p $ETC
  install -d -o slurm -g slurm "$STATE/run"
  slurm_conf | write_if_changed $ETC/slurm.conf && CONF_CHANGED=1
  slurmdbd_conf | write_if_changed $ETC/slurmdbd.conf || true
  chown slurm:slurm $ETC/slurmdbd.conf; chmod 0600 $ETC/slurmdbd.conf   # slurmdbd insists on 0600
}

start_slurmdbd() {
  run slurmdbd /usr/sbin/slurmdbd -D
  wait_until 90 "slurmdbd on port 6819" port_open 6819
}

# associations: cluster, QoS, account, users (sacctmgr fails on "nothing new", so errors are logged)
setup_accounting() {
  have_assoc() {  # every user in $USERS has an association in $ACCOUNT allowing QoS low
    local n; n=$(timeout 20 sacctmgr -n -P show assoc where cluster="$CLUSTER" account="$ACCOUNT" \
      user="$USERS" format=user,qos | grep -c 'low') || return 1
    [[ $n -eq $(tr ',' '\n' <<<"$USERS" | wc -l) ]]
  }
  have_assoc 2>/dev/null && return 0
  say "creating cluster $CLUSTER, QoS normal/high/low, account $ACCOUNT, users $USERS"
  sam() { timeout 30 sacctmgr -i "$@" >>"$LOGS/sacctmgr.log" 2>&1 || true; }
  sam add cluster "$CLUSTER"
  sam add qos high Priority=100
  sam add qos low Priority=0
  sam modify qos where name=normal set Priority=10
  sam add account "$ACCOUNT" Cluster="$CLUSTER" Description=hpcsched Organization=hpcsched
  sam add user "$USERS" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER"
  sam modify user where name="$USERS" set QOS=normal,high,low DefaultQOS=normal
  sam modify user where name=root set DefaultAccount="$ACCOUNT"
  have_assoc || { tail -3 "$LOGS/sacctmgr.log" >&2; return 1; }
}

nodes_ready() {
  local states; states=$(timeout 10 sinfo -h -N -o '%N %T' | sort -u) || return 1
  [[ $(wc -l <<<"$states") -eq ${#NODES[@]} ]] && ! grep -qvE ' (idle|mixed|allocated|completing)$' <<<"$states"
}

start_slurm() {
  install -d -o slurm -g slurm /var/lib/slurm /var/lib/slurm/slurmctld
  if alive slurmctld && ((CONF_CHANGED)); then
    say "slurm.conf changed: scontrol reconfigure"; scontrol reconfigure || true
  fi
  run slurmctld /usr/sbin/slurmctld -D -i
  wait_until 60 slurmctld timeout 5 sinfo -h || { tail -5 "$LOGS/slurmctld.log" >&2; return 1; }
  local n
  for n in "${NODES[@]}"; do
    install -d "/var/lib/slurm/slurmd/$n"
    run "slurmd-$n" /usr/sbin/slurmd -D -N "$n"
  done
  wait_until 60 "nodes n[1-4] idle" nodes_ready || { sinfo -N >&2; return 1; }
}

cmd_start() {
  local t0; t0=$(date +%s.%N)
  ((EUID == 0)) \
    || not_runnable "needs root (installs packages, starts daemons as munge/mysql/slurm); use sudo"
  [[ -r /etc/debian_version ]] || not_runnable "needs Debian (apt packages munge, mariadb-server, slurm*)"
  mkdir -p "$PIDS" "$LOGS"; chmod 0755 "$STATE"
  install_missing
  check_foreign
  id $SUBMIT_USER >/dev/null 2>&1 || useradd -m -s /bin/bash $SUBMIT_USER
  write_configs
  start_munge || die "munged did not come up; see $LOGS/munged.log"
  start_mariadb || die "mariadbd did not come up; see $LOGS/mariadbd.log"
  start_slurmdbd || die "slurmdbd did not come up; see $LOGS/slurmdbd.log"
  setup_accounting || die "sacctmgr could not create the associations; see $LOGS/sacctmgr.log"
  start_slurm || die "slurmctld/slurmd did not come up; see $LOGS/"
  sinfo
  rm -f "$STATE/not-runnable"
  say "cluster $CLUSTER up in $(since "$t0")s (state and logs in $STATE)"
}

# ------------------------------------------------------------------------------------ stop
stop_group() {  # TERM the named daemons together, then wait (KILL after 15 s)
  local name pid pids=() names=()
  for name in "$@"; do
    pid=$(pid_of "$name") || continue
    if ! alive "$name"; then say "$name (pid $pid) not running"; rm -f "$PIDS/$name.pid"; continue; fi
    kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); names+=("$name")
  done
  local i k
  for i in "${!pids[@]}"; do
    for ((k = 0; k < 150; k++)); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pids[i]}" 2>/dev/null; then
      say "${names[i]} (pid ${pids[i]}) ignored TERM: KILL"; kill -KILL "${pids[i]}" 2>/dev/null || true
      for ((k = 0; k < 50; k++)); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    fi
    say "stopped ${names[i]} (pid ${pids[i]})"; rm -f "$PIDS/${names[i]}.pid"
  done
}

cmd_stop() {
  local t0; t0=$(date +%s.%N)
  ((EUID == 0)) || not_runnable "needs root to signal the daemons"
  [[ -d $PIDS ]] || { say "nothing recorded in $PIDS"; return 0; }
  # cancel jobs first so their slurmstepd and job processes end on their own
  if alive slurmctld; then
    local jobs; jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ') || jobs=
    if [[ -n ${jobs// /} ]]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086  # one argument per job id
      timeout 10 scancel $jobs 2>/dev/null || true
      wait_until 20 "jobs to end" bash -c '[[ -z $(timeout 5 squeue -h -t R,CG,S -o %A) ]]' || true
    fi
  fi
  stop_group "${NODES[@]/#/slurmd-}" slurmctld
  stop_group slurmdbd
  stop_group mariadbd munged   # nothing needs either once slurmdbd is gone
  say "stopped in $(since "$t0")s"
}

# ------------------------------------------------------------------------------------ status
cmd_status() {
  local name pid all=0
  for name in "${DAEMONS[@]}"; do
    if alive "$name"; then
      printf '%-10s pid %-8s alive\n' "$name" "$(pid_of "$name")"
    elif pid=$(pid_of "$name"); then
      printf '%-10s pid %-8s DEAD\n' "$name" "$pid"; all=1
    else
      printf '%-10s %-12s not started\n' "$name" ""; all=1
    fi
  done
  if alive slurmctld; then timeout 10 sinfo || all=1; fi
  return $all
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
