#!/usr/bin/env bash
# Start a Ceph RADOS Gateway (S3) for the integration tests: Debian's own packages, one
# monitor, one OSD and one radosgw, all as root under /var/tmp/coffer-ceph, RGW on
# 127.0.0.1:7480, with a fixed S3 user and one bucket.
#
#   scripts/services/ceph-rgw.sh [start]   install if missing, create the cluster if missing
#                                          (or anew, if earlier runs half filled it or its
#                                          radosgw hangs), start what is stopped; prints the
#                                          COFFER_TEST_S3_* lines on stdout and writes them to
#                                          $SERVICES_ENV
#   scripts/services/ceph-rgw.sh stop      stop the three daemons (the data is kept, so the
#                                          next start is quick)
#   scripts/services/ceph-rgw.sh purge     stop and delete everything under /var/tmp/coffer-ceph
#
# Why a whole cluster: Debian 12 ships Ceph 16 (Pacific), whose radosgw can only store into
# RADOS; the standalone "dbstore" backend (rgw_backend_store) came in 17 (Quincy). So RGW
# needs a monitor and an OSD behind it. No manager daemon: RGW does not need one, and
# ceph-mgr would pull in a large Python stack and use memory and CPU for nothing here.
#
# It is a test fixture, not a deployment: cephx is off (everything is on loopback and the
# only client is this machine), one replica, and the OSD is a sparse file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

C=${COFFER_CEPH_DIR:-/var/tmp/coffer-ceph}
CONF=$C/ceph.conf
# The monitor's port is not Ceph's default 6789 so that this cluster does not fight over it
# with another one on the same machine (e.g. shared/ceph-mini.sh, which a benchmark may run).
MON_PORT=${COFFER_CEPH_MON_PORT:-6790}
RGW_PORT=${COFFER_RGW_PORT:-7480}
RGW_NAME=client.rgw.coffer
# 10 GiB, sparse: it takes disk space only as objects are written. Bluestore computes its
# "full" ratios from this size, so tests can write up to a few GiB.
OSD_BYTES=$((10 << 30))

# A kept cluster whose OSD is this full when a run starts is made anew (see cmd_start).
RECREATE_AT_PERCENT=50

S3_UID=coffer-test
S3_ACCESS_KEY=COFFERTESTACCESSKEY0
S3_SECRET_KEY=coffer-test-secret-key-00000000000000000
S3_BUCKET=coffer-blobs
# RGW's default zonegroup accepts a SigV4 scope of any region; us-east-1 is the one every
# S3 client defaults to, and with it clients send no LocationConstraint on CreateBucket.
S3_REGION=us-east-1
ENDPOINT=http://127.0.0.1:$RGW_PORT

ceph_() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }
rgw_admin() { timeout 60 radosgw-admin -c "$CONF" -n "$RGW_NAME" "$@"; }

# pid_of DAEMON: the pid in DAEMON's pid file, if that process is still a ceph daemon (a
# stale pid file after a reboot may name an unrelated process, which must not be killed).
pid_of() {
    local f=$C/run/ceph-$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f" 2>/dev/null) || return 1
    [ -n "$pid" ] && proc_alive "$pid" || return 1
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in ceph-mon|ceph-osd|radosgw) echo "$pid" ;; *) return 1 ;; esac
}
alive() { pid_of "$1" >/dev/null; }

stop_daemon() {
    local name=$1 pid
    pid=$(pid_of "$name") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        proc_alive "$pid" || { note "stopped $name"; return 0; }
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    note "stopped $name (killed after 30 s)"
}

cmd_stop() {
    # RGW first, then the OSD, then the monitor: each is a client of the next.
    alive "$RGW_NAME" || alive osd.0 || alive mon.a || note "not running"
    stop_daemon "$RGW_NAME"
    stop_daemon osd.0
    stop_daemon mon.a
    for v in ENDPOINT ACCESS_KEY SECRET_KEY BUCKET REGION; do env_unset "COFFER_TEST_S3_$v"; done
}

write_conf() {
    local fsid=$1
    cat >"$CONF" <<CONF
# Written by scripts/services/ceph-rgw.sh: a one-node test cluster on loopback.
[global]
fsid = $fsid
mon_initial_members = a
mon_host = v1:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
# Messenger v1 only: one address per daemon, and nothing outside this machine talks to it.
ms_bind_msgr2 = false
# No cephx: loopback only, and it spares generating and passing keyrings around.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = $C/keyring

# One OSD: pools of one replica, and CRUSH choosing among OSDs rather than hosts
# (osd_crush_chooseleaf_type must be set before the monitor's mkfs, which writes the rule).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
# RGW makes about eight pools; 8 PGs each is plenty, and no autoscaler (that is ceph-mgr's
# job, and there is none).
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
mon_allow_pool_delete = true
# The monitor stops itself when its disk has less than 5% free; a shared build machine's disk
# often does, and a test fixture should not die of it.
mon_data_avail_crit = 1
mon_data_avail_warn = 2

# Everything the daemons write stays under $C, not in /var/{lib,log,run}/ceph.
run_dir = $C/run
admin_socket = $C/run/\$cluster-\$name.asok
pid_file = $C/run/\$cluster-\$name.pid
log_file = $C/log/\$cluster-\$name.log
mon_cluster_log_file = $C/log/\$cluster.\$channel.log
crash_dir = $C/crash
mon_data = $C/mon.\$id
osd_data = $C/osd.\$id

# Memory: the machine has 2 cores and builds Rust. Defaults are a 4 GiB OSD memory target
# and a 2 GiB monitor target; a fixed bluestore cache of 128 MiB (autotune off, so
# osd_memory_target does not grow it) and small targets keep the three daemons to a few
# hundred MiB in all.
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
mon_memory_target = 268435456
rocksdb_cache_size = 67108864

[osd]
osd_objectstore = bluestore
# The OSD's device is a sparse file that mkfs creates: no block device or LVM needed.
bluestore_block_create = true
bluestore_block_size = $OSD_BYTES

[$RGW_NAME]
# tcp_nodelay: without it, small responses on a kept-alive connection wait ~40 ms for
# Nagle's algorithm (measured with curl: 3 ms on a fresh connection, 42 ms on a reused one).
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw_data = $C/rgw
log_file = $C/log/rgw.log
# 512 threads by default; tests run a few dozen requests at once at most.
rgw_thread_pool_size = 64
# Deleted objects' data is kept for 2 hours by default before RGW's garbage collector frees
# it; benchmarks that write and delete gigabytes would fill the 10 GiB OSD long before.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
CONF
}

# launch NAME CMD...: start a daemon. It forks into the background by itself, and its
# foreground part returns only once the daemon has initialised, failing if init failed.
# What it prints before that (e.g. "Falling back to public interface") goes to a log, not
# the caller's terminal. A stale pid file (from a crash) is removed first so that it cannot
# be mistaken for the new daemon's.
launch() {
    local name=$1; shift
    rm -f "$C/run/ceph-$name.pid"
    LAUNCHED_AT=$(date +%s)
    echo "--- $(date -u +%FT%TZ) launching $name" >>"$C/log/daemon-start.log"
    if ! "$@" >>"$C/log/daemon-start.log" 2>&1; then
        # Its reason (e.g. "monitor data filesystem reached concerning levels of available
        # storage space", or a store it cannot open) is in what it printed, which a CI log
        # must show: the machine is gone by the time anyone could read the file.
        note "$name failed to launch; what it printed:"
        awk -v mark=" launching $name" '/^--- / && index($0, mark) { out = "" } NF { out = out $0 "\n" }
            END { printf "%s", out }' "$C/log/daemon-start.log" | tail -n 8 | cut -c1-300 >&2 || true
        return 1
    fi
}

# kill_strays: end ceph daemons that run on this cluster's config but that no pid file names
# (a run killed between a launch and its pid file, or a pid file removed by hand). One of
# them would hold the monitor's store lock or a port, and the launch would fail.
kill_strays() {
    local pid known
    known=" $(pid_of mon.a || true) $(pid_of osd.0 || true) $(pid_of "$RGW_NAME" || true) "
    for pid in $(pgrep -f -- "-c $CONF( |$)" || true); do
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in ceph-mon|ceph-osd|radosgw) ;; *) continue ;; esac
        case "$known" in *" $pid "*) continue ;; esac
        note "killing a stray $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid) that no pid file names"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# await NAME WHAT LOG CHECK...: wait until CHECK succeeds. Returns 2 as soon as the daemon
# has died (its pid file is there but its process is not, or 15 s passed with no pid file:
# the forked child writes the file a moment after the parent returns), so that a daemon that
# crashed during boot is reported at once instead of at the deadline.
await() {
    local name=$1 what=$2 log=$3; shift 3
    until "$@" >/dev/null 2>&1; do
        if ! alive "$name"; then
            if [ -f "$C/run/ceph-$name.pid" ] || [ $(( $(date +%s) - LAUNCHED_AT )) -gt 15 ]; then
                note "$name exited while starting; last lines of $log:"
                tail -n 3 "$log" | cut -c1-300 >&2 || true
                return 2
            fi
        fi
        [ "$(date +%s)" -lt "$DEADLINE" ] || die "timed out waiting for $what, see $log"
        sleep 0.5
    done
}

# start_X: launch the daemon if it is not running, then (in every case, so a daemon that a
# previous run left still booting is waited for too) wait until it serves.
start_mon() {
    LAUNCHED_AT=$(date +%s)
    if alive mon.a; then wait_for "the monitor" ceph_ mon stat; return 0; fi
    ! port_open "$MON_PORT" || die "127.0.0.1:$MON_PORT (monitor) is already in use by another program"
    launch mon.a ceph-mon -c "$CONF" -i a || die "ceph-mon did not start, see $C/log/ceph-mon.a.log"
    await mon.a "the monitor" "$C/log/ceph-mon.a.log" ceph_ mon stat || die "the monitor died, see $C/log/ceph-mon.a.log"
    note "monitor up on 127.0.0.1:$MON_PORT"
}

osd_up() {
    ceph_ osd dump 2>/dev/null | grep -q '^osd\.0 up '
}

start_osd() {
    local try
    LAUNCHED_AT=$(date +%s)
    if alive osd.0; then wait_for "the OSD to be up" osd_up; return 0; fi
    # Up to three launches: Pacific's OSD sometimes sends its first monitor command before
    # it has the cluster's fsid (the monitor logs "handle_command on fsid 0000...") and fails
    # its init with "init unable to update_crush_device_class: (1) Operation not permitted".
    # Seen once in the first few fresh starts on this kind of machine; launched again, it
    # came up.
    for try in 1 2 3; do
        if launch osd.0 ceph-osd -c "$CONF" -i 0 \
            && await osd.0 "the OSD to be up" "$C/log/ceph-osd.0.log" osd_up; then
            note "OSD up"
            return 0
        fi
        note "the OSD did not come up (try $try of 3): $(grep -v '^$' "$C/log/daemon-start.log" | tail -n 1 | cut -c1-200)"
        sleep 1
    done
    die "the OSD failed to start three times, see $C/log/ceph-osd.0.log"
}

rgw_answers() {
    curl -s -o /dev/null --max-time 5 "$ENDPOINT/"
}

start_rgw() {
    LAUNCHED_AT=$(date +%s)
    if alive "$RGW_NAME"; then wait_for "radosgw to answer on $ENDPOINT" rgw_answers; return 0; fi
    ! port_open "$RGW_PORT" || die "127.0.0.1:$RGW_PORT (RGW) is already in use by another program"
    launch "$RGW_NAME" radosgw -c "$CONF" -n "$RGW_NAME" || die "radosgw did not start, see $C/log/rgw.log"
    # On its first start RGW creates its pools and zone, which takes some seconds.
    await "$RGW_NAME" "radosgw to answer on $ENDPOINT" "$C/log/rgw.log" rgw_answers \
        || die "radosgw died, see $C/log/rgw.log"
    note "radosgw up on $ENDPOINT"
}

# osd_fullness: prints which fullness threshold the OSD has crossed (nearfull at 85%,
# backfillfull at 90%, full at 95%), and fails if none. The monitor knows it from the OSD's
# own reports, so this needs no manager daemon.
osd_fullness() {
    ceph_ health detail 2>/dev/null | grep -oE 'OSD_(NEAR|BACKFILL)?FULL' | head -n 1 | grep .
}

# osd_used_percent: how much of the OSD's device its data takes, from the OSD's own counters
# (its admin socket: no manager daemon needed), or nothing if it does not say.
osd_used_percent() {
    local allocated
    allocated=$(timeout 20 ceph --admin-daemon "$C/run/ceph-osd.0.asok" perf dump bluestore 2>/dev/null \
        | sed -n 's/.*"bluestore_allocated": *\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$allocated" ] && echo $(( allocated * 100 / OSD_BYTES ))
}

# recreate WHY: throw the cluster away and make a new one. The cluster holds nothing but
# earlier test runs' objects, so this loses nothing, and it is the one cure that always
# works for a cluster that leftovers have filled or a crash has wedged.
recreate() {
    note "$1; creating the cluster anew"
    cmd_stop
    rm -rf "$C"
    start_deadline "${COFFER_SERVICES_TIMEOUT:-180}"
    create_cluster
    start_mon
    start_osd
}

# diagnose: what a failed start leaves in the log of the run that hit it (a CI run's
# machine is gone by the time anyone reads it).
diagnose() {
    local log
    {
        # Asking a monitor that is not there would only wait for the connect timeout.
        if alive mon.a; then
            echo "--- ceph health detail"
            ceph_ health detail 2>&1 | head -n 20 || true
        fi
        for log in ceph-mon.a.log ceph-osd.0.log rgw.log; do
            [ -f "$C/log/$log" ] || continue
            echo "--- last lines of $C/log/$log"
            tail -n 10 "$C/log/$log" 2>/dev/null | cut -c1-300 || true
        done
        echo "--- disk"
        df -h "$C" 2>&1 || true
    } >&2
}

create_cluster() {
    local fsid osd_uuid id
    note "creating a one-node cluster in $C"
    mkdir -p "$C/run" "$C/log" "$C/crash" "$C/rgw" "$C/mon.a" "$C/osd.0"
    : >"$C/keyring"
    # Fresh ids from the kernel, so no uuidgen (uuid-runtime) is needed.
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    monmaptool --create --add a "v1:127.0.0.1:$MON_PORT" --fsid "$fsid" "$C/monmap" >/dev/null \
        || die "monmaptool failed"
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$C/monmap" >"$C/log/mkfs-mon.log" 2>&1 \
        || die "ceph-mon --mkfs failed, see $C/log/mkfs-mon.log"
    start_mon
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(ceph_ osd new "$osd_uuid") || die "ceph osd new failed"
    [ "$id" = 0 ] || die "expected the new OSD to get id 0, got '$id'"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$C/log/mkfs-osd.log" 2>&1 \
        || die "ceph-osd --mkfs failed, see $C/log/mkfs-osd.log"
}

ensure_user() {
    # `user info` fails when the user is missing; then create it with the fixed keys.
    if rgw_admin user info --uid="$S3_UID" >"$C/user.json" 2>/dev/null; then
        grep -q "\"$S3_ACCESS_KEY\"" "$C/user.json" || die "RGW user $S3_UID exists with other keys"
        return 0
    fi
    rgw_admin user create --uid="$S3_UID" --display-name="coffer tests" \
        --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$C/user.json" 2>"$C/log/user-create.log" \
        || die "radosgw-admin user create failed, see $C/log/user-create.log"
    note "created RGW user $S3_UID"
}

# s3 METHOD PATH: one signed request with curl's own SigV4 signing (curl >= 7.75), so making
# the bucket needs no S3 client library. RGW wants x-amz-content-sha256, which curl does not
# add by itself; an empty body's hash is a constant.
s3() {
    local method=(-X "$1")
    # curl -X HEAD would wait for the body that the Content-Length announces; --head does not.
    [ "$1" = HEAD ] && method=(--head)
    curl -s -o /dev/null -w '%{http_code}' --max-time 20 "${method[@]}" \
        --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
        -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
        "$ENDPOINT$2"
}

ensure_bucket() {
    local code
    code=$(s3 HEAD "/$S3_BUCKET") || true
    [ "$code" = 200 ] && return 0
    code=$(s3 PUT "/$S3_BUCKET") || true
    [ "$code" = 200 ] || die "creating bucket $S3_BUCKET answered HTTP ${code:-nothing}"
    note "created bucket $S3_BUCKET"
}

cmd_start() {
    local t0 full used fresh missing=()
    t0=$(date +%s)
    for b in ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw radosgw-admin:radosgw \
             ceph:ceph-common monmaptool:ceph-base curl:curl; do
        command -v "${b%%:*}" >/dev/null || missing+=("${b#*:}")
    done
    if [ ${#missing[@]} != 0 ]; then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        apt_install "${missing[@]}"
    fi
    command -v flock >/dev/null || die "flock (util-linux) is missing"
    [ "$(id -u)" = 0 ] || die "run as root: the daemons write under $C and open the OSD's file with O_DIRECT"

    # A fresh cluster is up in about 20 s and a restart in under 10 s on an idle 2-core
    # machine; the deadline leaves room for a Rust build hogging both cores meanwhile.
    start_deadline "${COFFER_SERVICES_TIMEOUT:-180}"
    alive mon.a && alive osd.0 && alive "$RGW_NAME" && note "already running"
    # $C/ready is written last on the first run: without it a previous first run was cut
    # short, and its half-made cluster is thrown away rather than repaired.
    if [ ! -f "$C/ready" ]; then
        [ -d "$C" ] && { cmd_stop; rm -rf "$C"; }
        create_cluster
        start_mon
        start_osd
        fresh=1
    else
        kill_strays
        fresh=0
        # A kept cluster whose monitor or OSD will not start (a store that a killed run left
        # damaged, say) is thrown away like a full one: it holds nothing but test objects.
        if ! (start_mon && start_osd); then
            diagnose
            recreate "the kept cluster's monitor or OSD did not start"
            fresh=1
        fi
        # Tests leave their objects behind (each run writes under a prefix of its own: about
        # 0.4 GiB a CI run, measured), so a cluster kept across runs fills up. Past nearfull,
        # Pacific's radosgw hangs in its own start (seen: 3 minutes with no line in its log,
        # then the deadline), and at 95% every write blocks. Past half the device, start anew
        # so that no run can fill it midway.
        used=$(osd_used_percent) || used=
        if [ "$fresh" = 1 ]; then
            :
        elif full=$(osd_fullness); then
            recreate "the OSD reports $full: earlier runs' objects filled it"
            fresh=1
        elif [ -n "$used" ] && [ "$used" -ge "$RECREATE_AT_PERCENT" ]; then
            recreate "earlier runs' objects take $used% of the OSD"
            fresh=1
        fi
    fi
    # An existing cluster's radosgw answers within seconds. If it does not within a minute,
    # something in the kept state is wrong: start anew once rather than fail the run.
    if [ "$fresh" = 0 ] && ! (start_deadline 60; start_rgw); then
        diagnose
        recreate "radosgw did not answer within a minute on the kept cluster"
    fi
    if ! (start_rgw); then
        diagnose
        die "radosgw did not come up, see $C/log/rgw.log"
    fi
    ensure_user
    ensure_bucket
    touch "$C/ready"
    note "ready in $(( $(date +%s) - t0 )) s"

    env_set COFFER_TEST_S3_ENDPOINT "$ENDPOINT"
    env_set COFFER_TEST_S3_ACCESS_KEY "$S3_ACCESS_KEY"
    env_set COFFER_TEST_S3_SECRET_KEY "$S3_SECRET_KEY"
    env_set COFFER_TEST_S3_BUCKET "$S3_BUCKET"
    env_set COFFER_TEST_S3_REGION "$S3_REGION"
    echo "COFFER_TEST_S3_ENDPOINT=$ENDPOINT"
    echo "COFFER_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY"
    echo "COFFER_TEST_S3_SECRET_KEY=$S3_SECRET_KEY"
    echo "COFFER_TEST_S3_BUCKET=$S3_BUCKET"
    echo "COFFER_TEST_S3_REGION=$S3_REGION"
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    purge) cmd_stop; rm -rf "$C"; note "removed $C" ;;
    *) die "usage: $0 [start|stop|purge]" ;;
esac
