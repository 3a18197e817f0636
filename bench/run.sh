#!/usr/bin/env bash
# bench/run.sh: sysbench and memory benchmark of fwdproxy, direct vs through the proxy.
#
#   bench/run.sh          full run: prints a markdown table and writes docs/benchmarks.md
#   bench/run.sh ab OLD   A/B: the proxy CPU per query of OLD (a fwdproxy binary) and of FWDPROXY_BIN
#                         (or bin/fwdproxy) under oltp_point_select (prepared and text) and
#                         oltp_read_write, the two binaries alternating run by run (BENCH_REPEATS
#                         [6] each, order reversed every other repeat). Prints medians and the
#                         new/old ratio; writes nothing in the repository.
#   bench/run.sh readers  a reader endpoint of 3 replicas (a pair with PAIR_REPLICAS=3): oltp_point_select
#                         and oltp_read_only through the proxy over 3 readers vs spread directly over the
#                         3 replicas, beside one reader vs one replica; then integration/readers
#                         BenchmarkSessionReadAfterWriteReaders (BENCH_RAW_TRIALS [2000]). Writes its
#                         section of docs/benchmarks.md (between the "readers" markers; make bench runs
#                         it after the full run).
#   bench/run.sh smoke    (or BENCH_SMOKE=1) oltp_point_select, 2 threads, 2 s, direct and through the
#                         proxy once; exits non-zero when the proxy run fails, has errors or zero QPS.
#                         Writes nothing in the repository.
#
# Env (defaults in brackets):
#   BENCH_REPEATS [3]  BENCH_TIME [10 s; smoke 2]  BENCH_TABLES [4; smoke 1]
#   BENCH_TABLE_SIZE [10000; smoke 1000]  BENCH_IDLE_SESSIONS [1000]
#   BENCH_STREAM_ROWS [100000]  BENCH_STREAM_WIDTH [150]  BENCH_OUT [docs/benchmarks.md]
#   FWDPROXY_PAIR_ENV  use this running pair (its pair.env) instead of starting one
#   BENCH_PAIR_DIR     where to start the pair [a temporary directory]
#   FWDPROXY_BIN       use this fwdproxy binary instead of building bin/fwdproxy
#   BENCH_KEEP=1       keep the work directory (sysbench outputs, proxy logs, runs.tsv)
#
# Method: for every workload the direct and proxied runs alternate (order reversed on every other
# repeat), each for BENCH_TIME seconds, BENCH_REPEATS times; the table shows medians. Direct means
# the replica for read workloads and the writer for oltp_read_write. The replica is made to catch up
# with the writer (MASTER_GTID_WAIT) before every run. Proxy CPU per query is the utime+stime delta
# of the fwdproxy process over the sysbench run divided by sysbench's query count.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=full
if [ "${1:-}" = smoke ] || [ "${BENCH_SMOKE:-0}" = 1 ]; then MODE=smoke; fi
if [ "${1:-}" = readers ]; then MODE=readers; fi
if [ "${1:-}" = ab ]; then
	MODE=ab
	OLD_BIN=${2:?usage: bench/run.sh ab OLD_FWDPROXY_BINARY}
	[ -x "$OLD_BIN" ] || { echo "bench ab: $OLD_BIN is not an executable" >&2; exit 2; }
fi
if [ "$MODE" = smoke ]; then
	REPEATS=1
	TIME=${BENCH_TIME:-2}
	TABLES=${BENCH_TABLES:-1}
	TABLE_SIZE=${BENCH_TABLE_SIZE:-1000}
elif [ "$MODE" = ab ]; then
	REPEATS=${BENCH_REPEATS:-6}
	TIME=${BENCH_TIME:-10}
	TABLES=${BENCH_TABLES:-4}
	TABLE_SIZE=${BENCH_TABLE_SIZE:-10000}
else
	REPEATS=${BENCH_REPEATS:-3}
	TIME=${BENCH_TIME:-10}
	TABLES=${BENCH_TABLES:-4}
	TABLE_SIZE=${BENCH_TABLE_SIZE:-10000}
fi
IDLE_SESSIONS=${BENCH_IDLE_SESSIONS:-1000}
STREAM_ROWS=${BENCH_STREAM_ROWS:-100000}
STREAM_WIDTH=${BENCH_STREAM_WIDTH:-150}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
CLK_TCK=$(getconf CLK_TCK)
T0=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

WORK=$(mktemp -d /tmp/fwdbench.XXXXXX)
RUNS=$WORK/runs.tsv
: >"$RUNS"
declare -A PROXY_PID=() PROXY_PORT=() PROXY_ADMIN=()
PAIR_STARTED=""
DB_CREATED=0
MAXCONN_RESTORE=""
FAILED=0

. "$ROOT/bench/section.sh"

log() { printf '[bench %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() {
	echo "bench: $*" >&2
	FAILED=1
	exit 1
}

# sql ADDR USER PASSWORD STATEMENTS: run over TCP, tab-separated, no column names.
sql() {
	MYSQL_PWD=$3 mariadb -h "${1%:*}" -P "${1##*:}" -u "$2" --connect-timeout=5 -N -B -e "$4"
}
wsql() { sql "$WRITER_ADDR" "$TEST_USER" "$TEST_PASSWORD" "$1"; }
rsql() { sql "$READER_ADDR" "$TEST_USER" "$TEST_PASSWORD" "$1"; }
rroot() { sql "$READER_ADDR" "$ROOT_USER" "$ROOT_PASSWORD" "$1"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
	local lo=20000 hi=32000 p i elo
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r elo _ </proc/sys/net/ipv4/ip_local_port_range
		if [ "$elo" -le "$hi" ]; then lo=10000; hi=$((elo - 1)); fi
	fi
	for i in $(seq 1 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free port found"
}

# start_proxy NAME CONSISTENCY [READER]: fwdproxy (READER: one address, or several
# comma-separated, one --reader each); CONSISTENCY floor, efloor or ufloor: bench/floorrelay
# (goroutines, -epoll or -uring) relaying to READER instead.
start_proxy() {
	local name=$1 cons=$2 reader=${3:-$READER_ADDR} port aport pid i r
	local rflags=()
	for r in ${reader//,/ }; do rflags+=(--reader "$r"); done
	for i in 1 2 3 4 5; do
		port=$(pick_port)
		aport=$(pick_port)
		[ "$port" != "$aport" ] || continue
		if [ "$cons" = floor ]; then
			"$WORK/floorrelay" "127.0.0.1:$port" "$reader" </dev/null >"$WORK/proxy-$name.log" 2>&1 &
		elif [ "$cons" = efloor ]; then
			"$WORK/floorrelay" -epoll "127.0.0.1:$port" "$reader" </dev/null >"$WORK/proxy-$name.log" 2>&1 &
		elif [ "$cons" = ufloor ]; then
			"$WORK/floorrelay" -uring "127.0.0.1:$port" "$reader" </dev/null >"$WORK/proxy-$name.log" 2>&1 &
		else
			# Profiles for the CPU profile below; by the environment, which
			# an older binary (ab OLD) ignores, not by a flag it would refuse.
			FWDPROXY_ADMIN_PPROF=true "${START_BIN:-$BIN}" serve --listen "127.0.0.1:$port" --admin "127.0.0.1:$aport" \
				--writer "$WRITER_ADDR" "${rflags[@]}" --user "$TEST_USER:$TEST_PASSWORD" \
				--default-consistency "$cons" --log-level warn </dev/null >"$WORK/proxy-$name.log" 2>&1 &
		fi
		pid=$!
		PROXY_PID[$name]=$pid
		PROXY_PORT[$name]=$port
		PROXY_ADMIN[$name]=$aport
		for _ in $(seq 1 150); do
			if ! kill -0 "$pid" 2>/dev/null; then break; fi
			if sql "127.0.0.1:$port" "$TEST_USER" "$TEST_PASSWORD" "SELECT 1" >/dev/null 2>&1; then
				log "proxy $name ($cons) pid $pid on 127.0.0.1:$port"
				return 0
			fi
			sleep 0.1
		done
		stop_proxy "$name"
		grep -q -i 'address already in use' "$WORK/proxy-$name.log" || break
	done
	tail -n 20 "$WORK/proxy-$name.log" >&2 || true
	die "proxy $name did not start"
}

stop_proxy() {
	local name=$1 pid=${PROXY_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	unset "PROXY_PID[$name]"
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? name
	for name in "${!PROXY_PID[@]}"; do stop_proxy "$name"; done
	if [ -n "$MAXCONN_RESTORE" ]; then
		rroot "SET GLOBAL max_connections=$MAXCONN_RESTORE" >/dev/null 2>&1 || true
	fi
	if [ -n "$PAIR_STARTED" ]; then
		bash "$ROOT/integration/pair.sh" stop "$PAIR_STARTED" >/dev/null 2>&1 || true
	elif [ "$DB_CREATED" = 1 ]; then
		wsql "DROP DATABASE IF EXISTS sbtest" >/dev/null 2>&1 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" != 0 ] || [ "$FAILED" = 1 ]; then
		echo "bench: work files kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# children_ticks: CPU of this shell's finished children (cutime + cstime), i.e. sysbench's.
children_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }
# machine_ticks: busy and total CPU ticks of the whole machine, from /proc/stat.
machine_ticks() { awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit}' /proc/stat; }
# our_ticks: CPU of the benchmark's long-running processes: every proxy and both servers.
our_ticks() {
	local t=0 p
	for p in "${PROXY_PID[@]}" "${SERVER_PIDS[@]}"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(cpu_ticks "$p")))
	done
	echo "$t"
}

# catch_up: wait until every replica has applied everything the writer has logged.
catch_up() {
	local pos r a
	pos=$(wsql "SELECT @@gtid_binlog_pos")
	for a in ${READER_ADDRS//,/ }; do
		r=$(sql "$a" "$TEST_USER" "$TEST_PASSWORD" "SELECT MASTER_GTID_WAIT('$pos', 120)")
		[ "$r" = 0 ] || die "replica $a did not reach $pos (MASTER_GTID_WAIT returned $r)"
	done
}

SB_N=0
# sysbench_run CFG MODE REP PORT PROXYNAME WORKLOAD THREADS [ARGS...]: one measured run, one row of
# runs.tsv: cfg mode rep qps p95_ms ignored_errors rc queries proxy_us_per_query load1
# other_cpu_pct.
sysbench_run() {
	local cfg=$1 mode=$2 rep=$3 port=$4 pname=$5 workload=$6 threads=$7
	shift 7
	local out pid="" t0=0 t1 rc=0 qps p95 errs queries us="-"
	SB_N=$((SB_N + 1))
	out=$WORK/sb-$SB_N-$cfg-$mode-$rep.out
	catch_up
	if [ -n "$pname" ]; then
		pid=${PROXY_PID[$pname]}
		t0=$(cpu_ticks "$pid")
	fi
	local m0 m1 o0 o1 c0 c1 other
	read -r -a m0 < <(machine_ticks)
	o0=$(our_ticks)
	c0=$(children_ticks)
	sysbench "$workload" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
		--mysql-user="$TEST_USER" --mysql-password="$TEST_PASSWORD" --mysql-db=sbtest \
		--tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$threads" --time="$TIME" \
		--percentile=95 --report-interval=0 "$@" run >"$out" 2>&1 || rc=$?
	c1=$(children_ticks)
	o1=$(our_ticks)
	read -r -a m1 < <(machine_ticks)
	# Share of the machine's CPU used by processes outside this benchmark during the run.
	other=$(awk -v b=$((m1[0] - m0[0])) -v t=$((m1[1] - m0[1])) -v o=$((o1 - o0 + c1 - c0)) \
		'BEGIN {v = t > 0 ? (b - o) * 100 / t : 0; if (v < 0) v = 0; printf "%.0f", v}')
	queries=$(awk '/^ *queries:/ {print $2; exit}' "$out")
	qps=$(awk '/^ *queries:/ {gsub(/[(]/, "", $3); print $3; exit}' "$out")
	p95=$(awk '/95th percentile:/ {print $3; exit}' "$out")
	errs=$(awk '/ignored errors:/ {print $3; exit}' "$out")
	: "${queries:=0}" "${qps:=0}" "${p95:=nan}" "${errs:=0}"
	if [ -n "$pid" ]; then
		if kill -0 "$pid" 2>/dev/null; then
			t1=$(cpu_ticks "$pid")
			if [ "$queries" -gt 0 ]; then
				us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v q="$queries" \
					'BEGIN {printf "%.2f", d * 1e6 / hz / q}')
			fi
		else
			rc=99
			echo "bench: proxy $pname (pid $pid) is gone; tail of its log:" >&2
			tail -n 20 "$WORK/proxy-$pname.log" >&2 || true
		fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$mode" "$rep" "$qps" "$p95" "$errs" "$rc" \
		"$queries" "$us" "$(cut -d' ' -f1 /proc/loadavg)" "$other" >>"$RUNS"
	log "$cfg $mode #$rep: $qps qps, p95 $p95 ms, errors $errs, rc $rc, proxy ${us} us/query, other processes ${other}% CPU"
	if [ "$rc" != 0 ]; then
		echo "bench: sysbench $workload ($cfg, $mode) failed with rc $rc; tail of its output:" >&2
		tail -n 15 "$out" >&2
	fi
}

# ---------------------------------------------------------------- setup
cd "$ROOT"
if [ -n "${FWDPROXY_BIN:-}" ]; then
	BIN=$FWDPROXY_BIN
else
	log "building fwdproxy"
	go build -o bin/fwdproxy ./cmd/fwdproxy
	BIN=$ROOT/bin/fwdproxy
fi
if ! command -v sysbench >/dev/null 2>&1; then
	log "installing sysbench"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y sysbench >&2 ||
		{ $sudo apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y sysbench >&2; }
fi

if [ -n "${FWDPROXY_PAIR_ENV:-}" ]; then
	PAIR_ENV=$FWDPROXY_PAIR_ENV
else
	PAIR_DIR=${BENCH_PAIR_DIR:-$WORK/pair}
	log "starting a MariaDB pair in $PAIR_DIR"
	replicas=1
	[ "$MODE" = readers ] && replicas=3
	PAIR_REPLICAS=$replicas bash "$ROOT/integration/pair.sh" start "$PAIR_DIR" >"$WORK/pair.out"
	PAIR_STARTED=$PAIR_DIR
	PAIR_ENV=$PAIR_DIR/pair.env
fi
# shellcheck disable=SC1090
source "$PAIR_ENV"
READER_ADDRS=${READER_ADDRS:-$READER_ADDR}
if [ "$MODE" = readers ] && [ "$(tr ',' '\n' <<<"$READER_ADDRS" | wc -l)" -lt 3 ]; then
	die "bench readers needs a pair with 3 replicas (PAIR_REPLICAS=3 integration/pair.sh start DIR); $PAIR_ENV has $READER_ADDRS"
fi
SERVER_PIDS=()
names=${REPLICA_NAMES:-replica}
for n in writer ${names//,/ }; do
	f=${PAIR_DIR:-}/$n/mariadbd.pid
	[ -s "$f" ] && SERVER_PIDS+=("$(cat "$f")")
done

if [ -z "$(wsql "SHOW DATABASES LIKE 'sbtest'")" ]; then
	wsql "CREATE DATABASE sbtest"
	DB_CREATED=1
fi
log "preparing sbtest on the writer: $TABLES tables x $TABLE_SIZE rows"
SB_PREP=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="${WRITER_ADDR##*:}"
	--mysql-user="$TEST_USER" --mysql-password="$TEST_PASSWORD" --mysql-db=sbtest
	--tables="$TABLES" --table-size="$TABLE_SIZE")
sysbench oltp_read_write "${SB_PREP[@]}" cleanup >"$WORK/cleanup.out" 2>&1 ||
	{ cat "$WORK/cleanup.out" >&2; die "sysbench cleanup failed"; }
sysbench oltp_read_write "${SB_PREP[@]}" --threads="$TABLES" prepare >"$WORK/prepare.out" 2>&1 ||
	{ cat "$WORK/prepare.out" >&2; die "sysbench prepare failed"; }
catch_up
start_proxy ev EVENTUAL
RPORT=${READER_ADDR##*:}
WPORT=${WRITER_ADDR##*:}

# ---------------------------------------------------------------- smoke
if [ "$MODE" = smoke ]; then
	sysbench_run smoke direct 1 "$RPORT" "" oltp_point_select 2
	sysbench_run smoke proxy 1 "${PROXY_PORT[ev]}" ev oltp_point_select 2
	stop_proxy ev
	status=0
	while IFS=$'\t' read -r cfg mode rep qps p95 errs rc queries us _ other; do
		printf 'smoke %-6s qps=%s p95_ms=%s errors=%s rc=%s proxy_us_per_query=%s other_cpu=%s%%\n' \
			"$mode" "$qps" "$p95" "$errs" "$rc" "$us" "$other"
		if [ "$rc" != 0 ] || [ "$errs" != 0 ] || awk -v q="$qps" 'BEGIN {exit !(q <= 0)}'; then
			echo "bench smoke: $mode run failed (rc $rc, errors $errs, qps $qps)" >&2
			status=1
		fi
	done <"$RUNS"
	echo "bench smoke: $([ $status = 0 ] && echo PASS || echo FAIL) in $((SECONDS - T0)) s"
	[ $status = 0 ] || FAILED=1
	exit $status
fi

# ---------------------------------------------------------------- A/B: old and new binaries
if [ "$MODE" = ab ]; then
	stop_proxy ev
	START_BIN=$OLD_BIN start_proxy old EVENTUAL
	START_BIN=$OLD_BIN start_proxy olds SESSION
	start_proxy new EVENTUAL
	start_proxy news SESSION
	AB=("ps8|oltp_point_select|8|" "tx8|oltp_point_select|8|--db-ps-mode=disable" "rw|oltp_read_write|8|")
	for c in "${AB[@]}"; do
		IFS='|' read -r cfg workload threads args <<<"$c"
		# shellcheck disable=SC2206
		extra=($args)
		for rep in $(seq 1 "$REPEATS"); do
			order=(old new)
			[ $((rep % 2)) = 0 ] && order=(new old)
			for who in "${order[@]}"; do
				pname=$who
				[ "$cfg" = rw ] && pname=${who}s
				sysbench_run "$cfg" "$who" "$rep" "${PROXY_PORT[$pname]}" "$pname" "$workload" "$threads" ${extra[@]+"${extra[@]}"}
			done
		done
	done
	status=0
	printf '| workload | old µs/query | new µs/query | new/old | old qps | new qps | ignored errors | failed runs |\n|---|---|---|---|---|---|---|---|\n'
	for cfg in ps8 tx8 rw; do
		awk -F'\t' -v cfg="$cfg" '
			function median(a, n,   i, j, t) {
				for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
				return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
			}
			$1 == cfg { if ($2 == "old") { ou[++no] = $9; oq[no] = $4 } else { nu[++nn] = $9; nq[nn] = $4 }; ig += $6; e += ($7 != 0) }
			END {
				mo = median(ou, no); mn = median(nu, nn)
				printf "| %s | %.2f | %.2f | %.3f | %.0f | %.0f | %d | %d |\n", cfg, mo, mn, mn / mo, median(oq, no), median(nq, nn), ig, e
				exit e > 0
			}' "$RUNS" || status=1
	done
	echo "(ps8: oltp_point_select prepared, tx8: text, rw: oltp_read_write at SESSION; 8 threads, ${TIME} s runs, $REPEATS each, alternating)"
	[ $status = 0 ] || FAILED=1
	exit $status
fi

# ---------------------------------------------------------------- report helpers
kv() { awk -F= -v k="$1" '$1 == k {sub(/^[^=]*=/, ""); print; exit}' "$2"; }
# values CFG MODE FIELD: that field of the successful runs (rc 0)
values() { awk -F'\t' -v c="$1" -v m="$2" -v f="$3" '$1 == c && $2 == m && $7 == 0 && $f != "-" {print $f}' "$RUNS"; }
median() {
	sort -g | awk '{a[NR] = $1} END {
		if (NR == 0) { print "n/a"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { values "$1" "$2" "$3" | median; }
# errs CFG MODE: ignored errors summed over runs, plus failed runs
errs() {
	awk -F'\t' -v c="$1" -v m="$2" '$1 == c && $2 == m {e += $6; if ($7 != 0) f++}
		END {printf "%d", e; if (f) printf " (%d failed)", f}' "$RUNS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a"}'; }
fmt0() { awk -v v="$1" 'BEGIN {if (v == "n/a") print v; else printf "%.0f", v}'; }

# ---------------------------------------------------------------- readers: a reader endpoint of 3
if [ "$MODE" = readers ]; then
	start_proxy three EVENTUAL "$READER_ADDRS"
	DIRECT3=""
	for a in ${READER_ADDRS//,/ }; do DIRECT3+="${a##*:},"; done
	DIRECT3=${DIRECT3%,}
	log "warm-up"
	for port in "$RPORT" "${PROXY_PORT[ev]}" "$DIRECT3" "${PROXY_PORT[three]}"; do
		sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
			--mysql-user="$TEST_USER" --mysql-password="$TEST_PASSWORD" --mysql-db=sbtest \
			--tables="$TABLES" --table-size="$TABLE_SIZE" --threads=4 --time=2 run >/dev/null 2>&1 || true
	done
	# direct1: the first replica; proxy1: fwdproxy with it as its one --reader; direct3: sysbench's
	# connections spread over the 3 replicas (a port list); proxy3: fwdproxy with 3 --reader.
	RCONFIGS=("ps8|oltp_point_select|8|" "ro|oltp_read_only|8|")
	RMODES=(direct1 proxy1 direct3 proxy3)
	for c in "${RCONFIGS[@]}"; do
		IFS='|' read -r cfg workload threads args <<<"$c"
		# shellcheck disable=SC2206
		extra=($args)
		for rep in $(seq 1 "$REPEATS"); do
			order=("${RMODES[@]}")
			[ $((rep % 2)) = 0 ] && order=(proxy3 direct3 proxy1 direct1)
			for mode in "${order[@]}"; do
				case $mode in
				direct1) port=$RPORT; pname="" ;;
				proxy1) port=${PROXY_PORT[ev]}; pname=ev ;;
				direct3) port=$DIRECT3; pname="" ;;
				proxy3) port=${PROXY_PORT[three]}; pname=three ;;
				esac
				sysbench_run "$cfg" "$mode" "$rep" "$port" "$pname" "$workload" "$threads" ${extra[@]+"${extra[@]}"}
			done
		done
	done
	# per_reader FIELD: that counter of each reader in the 3-reader proxy's /status, "a / b / c".
	per_reader() {
		curl -sf "http://127.0.0.1:${PROXY_ADMIN[three]}/status" | tr '{' '\n' |
			awk -F"\"$1\":" 'NF > 1 {split($2, a, /[,}]/); sub(/^ +/, "", a[1]); printf "%s%s", sep, a[1]; sep = " / "}'
	}
	READS3=$(per_reader reads)
	MOVES3=$(per_reader moves)
	stop_proxy three
	stop_proxy ev
	RAW_TRIALS=${BENCH_RAW_TRIALS:-2000}
	log "SESSION read-after-write over readers at 0, 50 and 200 ms of lag ($RAW_TRIALS trials each)"
	go test -count=1 -run NONE -bench BenchmarkSessionReadAfterWriteReaders -benchtime "${RAW_TRIALS}x" \
		-timeout 30m ./integration/readers/ >"$WORK/raw.out" 2>&1 || { cat "$WORK/raw.out" >&2; die "BenchmarkSessionReadAfterWriteReaders failed"; }

	RTABLE="| workload (8 threads) | QPS 1 replica direct | QPS 1 reader via proxy | ratio | proxy µs/query | QPS 3 replicas direct | QPS 3 readers via proxy | ratio | proxy µs/query | ratio 3 ÷ ratio 1 | µs/query 3 ÷ 1 |
|---|---|---|---|---|---|---|---|---|---|---|"
	for cfg in ps8 ro; do
		lab="oltp_point_select, prepared"
		[ "$cfg" = ro ] && lab=oltp_read_only
		d1=$(med $cfg direct1 4) p1=$(med $cfg proxy1 4) d3=$(med $cfg direct3 4) p3=$(med $cfg proxy3 4)
		u1=$(med $cfg proxy1 9) u3=$(med $cfg proxy3 9)
		r1=$(ratio "$p1" "$d1") r3=$(ratio "$p3" "$d3")
		RTABLE+="
| $lab | $d1 | $p1 | $r1 | $u1 | $d3 | $p3 | $r3 | $u3 | $(ratio "$r3" "$r1") | $(ratio "$u3" "$u1") |"
	done
	# One row per sub-benchmark: its figures by unit.
	RAWTABLE="| readers | read p50 ms | read p99 ms | waits per read | wait ms per read | reads on the 0 / 50 / 200 ms reader | waited on the 0 / 50 / 200 ms reader |
|---|---|---|---|---|---|---|"
	RAWTABLE+=$(awk '/^BenchmarkSessionReadAfterWriteReaders\// {
		name = $1; sub(/^[^\/]*\//, "", name); sub(/-[0-9]+$/, "", name); gsub(/_/, " ", name)
		delete v; for (i = 3; i < NF; i += 2) v[$(i + 1)] = $i
		on = "n/a"; w = "n/a"
		if ("reads-on-0ms" in v) {
			on = sprintf("%.1f%% / %.1f%% / %.1f%%", v["reads-on-0ms"] * 100, v["reads-on-50ms"] * 100, v["reads-on-200ms"] * 100)
			w = sprintf("%.1f%% / %.1f%% / %.1f%%", v["waited-on-0ms"] * 100, v["waited-on-50ms"] * 100, v["waited-on-200ms"] * 100)
		}
		printf "\n| %s | %.2f | %.2f | %.3f | %.2f | %s | %s |", name, v["read-p50-ms"], v["read-p99-ms"], v["waits/read"], v["wait-ms/read"], on, w
	}' "$WORK/raw.out")
	SECTION="<!-- readers: bench/run.sh readers writes this section -->
## Several readers

Generated by \`bench/run.sh readers\` (part of \`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), fwdproxy
$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), on the machine above; a writer and 3
GTID replicas from \`PAIR_REPLICAS=3 integration/pair.sh\`, all on this machine's CPUs.

### Read scaling: 3 readers against 3 replicas directly
sysbench with $TABLES tables × $TABLE_SIZE rows, 8 threads, $REPEATS repeats of $TIME s per mode,
the modes alternating (order reversed every other repeat), medians. *1 replica direct*: the first
replica; *1 reader via proxy*: fwdproxy with it as its one \`--reader\`, EVENTUAL; *3 replicas
direct*: sysbench's connections spread over the three (\`--mysql-port\` list); *3 readers via
proxy*: fwdproxy with three \`--reader\`s, which places each session by outstanding work and moves
a settled one only to even out the sessions. The ratio
is proxied ÷ direct QPS in each setting; *ratio 3 ÷ ratio 1* and *µs/query 3 ÷ 1* compare the
proxy's cost per query with three readers against one (1.00: no regression per query). Reads per
reader in the 3-reader proxy at the end: $READS3; sessions that moved to each (each move a dial and
the replay of the session's state), over all its runs: $MOVES3. Share of the machine's CPU used by processes
outside this benchmark during these runs: median $(awk -F'\t' '{print $11}' "$RUNS" | median) %.

$RTABLE

### SESSION read-after-write over readers 0, 50 and 200 ms behind
\`integration/readers\` \`BenchmarkSessionReadAfterWriteReaders\`, $RAW_TRIALS trials per row after
3 s of unrecorded ones (so that the proxy has measured each reader's lag under the load): 8 SESSION sessions, each updating its own row and reading it back at once, with
the replicas 0, 50 and 200 ms behind the writer (lag links: a TCP link with a fixed latency
between the writer and each replica). Through each replica as the one reader, and through all
three. Waits and wait time are the proxy's counters (\`Aurora_fwd_replica_read_wait_count\`,
\`Aurora_fwd_replica_read_wait_duration\`, and per reader \`waits\` on \`/status\`); a wait that
the reader has already satisfied returns at once, so \"wait ms per read\" is what the reads paid.

$RAWTABLE
<!-- /readers -->"
	write_section readers "$SECTION"
	echo "$RTABLE"
	echo
	echo "$RAWTABLE"
	log "wrote the several-readers section of $OUT"
	exit 0
fi

# ---------------------------------------------------------------- full: throughput
start_proxy ses SESSION
# The same proxy with the reader over its Unix socket (a proxy on the replica's host), and the
# floor: a bare Go relay that copies bytes without reading the protocol (bench/floorrelay).
SOCK_NOTE=""
HAVE_SOCK=0
if [ -S "${READER_SOCKET:-}" ]; then
	start_proxy sock EVENTUAL "$READER_SOCKET"
	HAVE_SOCK=1
else
	SOCK_NOTE="(skipped: the pair has no READER_SOCKET)"
fi
go build -o "$WORK/floorrelay" ./bench/floorrelay
start_proxy rfloor floor "$READER_ADDR"
start_proxy wfloor floor "$WRITER_ADDR"
start_proxy refloor efloor "$READER_ADDR"
start_proxy wefloor efloor "$WRITER_ADDR"
start_proxy rufloor ufloor "$READER_ADDR"
start_proxy wufloor ufloor "$WRITER_ADDR"
log "warm-up"
for port in "$RPORT" "${PROXY_PORT[ev]}" "$WPORT"; do
	sysbench oltp_read_only --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
		--mysql-user="$TEST_USER" --mysql-password="$TEST_PASSWORD" --mysql-db=sbtest \
		--tables="$TABLES" --table-size="$TABLE_SIZE" --threads=4 --time=2 run >/dev/null 2>&1 || true
done

# CFG|workload|threads|mode label|sysbench args|extra modes (sock: reader over its Unix socket;
# floor: the bare Go relay; efloor: the bare relay as one epoll loop; ufloor: as one io_uring loop)
CONFIGS=(
	"ps1|oltp_point_select|1|prepared||"
	"ps8|oltp_point_select|8|prepared||sock floor efloor ufloor"
	"ps32|oltp_point_select|32|prepared||"
	"tx1|oltp_point_select|1|text|--db-ps-mode=disable|"
	"tx8|oltp_point_select|8|text|--db-ps-mode=disable|sock"
	"tx32|oltp_point_select|32|text|--db-ps-mode=disable|"
	"ro|oltp_read_only|8|BEGIN…COMMIT||sock floor efloor ufloor"
	"ros|oltp_read_only|8|--skip_trx=on|--skip_trx=on|"
	"rw|oltp_read_write|8|EVENTUAL / SESSION||sock floor efloor ufloor"
)
# proxied_modes CFG EXTRA: the modes measured through something, in table order
proxied_modes() {
	local m
	if [ "$1" = rw ]; then m="eventual session"; else m=proxy; fi
	for x in $2; do
		[ "$x" = sock ] && [ "$HAVE_SOCK" = 0 ] && continue
		m+=" $x"
	done
	echo "$m"
}
for c in "${CONFIGS[@]}"; do
	IFS='|' read -r cfg workload threads _ args more <<<"$c"
	# shellcheck disable=SC2206
	extra=($args)
	# shellcheck disable=SC2207
	modes=(direct $(proxied_modes "$cfg" "$more"))
	for rep in $(seq 1 "$REPEATS"); do
		order=("${modes[@]}")
		if [ $((rep % 2)) = 0 ]; then
			order=()
			for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[$i]}"); done
		fi
		for mode in "${order[@]}"; do
			case $mode in
			direct) port=$RPORT; [ "$cfg" = rw ] && port=$WPORT; pname="" ;;
			proxy | eventual) port=${PROXY_PORT[ev]}; pname=ev ;;
			session) port=${PROXY_PORT[ses]}; pname=ses ;;
			sock) port=${PROXY_PORT[sock]}; pname=sock ;;
			floor) pname=rfloor; [ "$cfg" = rw ] && pname=wfloor; port=${PROXY_PORT[$pname]} ;;
			efloor) pname=refloor; [ "$cfg" = rw ] && pname=wefloor; port=${PROXY_PORT[$pname]} ;;
			ufloor) pname=rufloor; [ "$cfg" = rw ] && pname=wufloor; port=${PROXY_PORT[$pname]} ;;
			esac
			sysbench_run "$cfg" "$mode" "$rep" "$port" "$pname" "$workload" "$threads" ${extra[@]+"${extra[@]}"}
		done
	done
done
# Where the proxy's CPU goes: a CPU profile from the admin address during a
# prepared point_select run at 8 threads, summarised by go tool pprof.
PROFILE="(no profile: go tool pprof or curl missing)"
FENCE='```'
if command -v curl >/dev/null && command -v go >/dev/null; then
	log "profiling the proxy under oltp_point_select, 8 threads"
	(sysbench oltp_point_select --mysql-host=127.0.0.1 --mysql-port="${PROXY_PORT[ev]}" --mysql-user="$TEST_USER" \
		--mysql-password="$TEST_PASSWORD" --mysql-db=sbtest --tables="$TABLES" --table-size="$TABLE_SIZE" \
		--threads=8 --time=9 run >"$WORK/profile-sysbench.out" 2>&1 &)
	sleep 1
	if curl -sf "http://127.0.0.1:${PROXY_ADMIN[ev]}/debug/pprof/profile?seconds=7" -o "$WORK/cpu.pprof"; then
		PROFILE=$(go tool pprof -top -nodecount=12 "$BIN" "$WORK/cpu.pprof" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/    /')
		SYSCALLS=$(go tool pprof -top "$BIN" "$WORK/cpu.pprof" 2>/dev/null | awk '/syscall\.RawSyscall6|linux\.Syscall6$/ {print $2; exit}')
		WRITES=$(go tool pprof -top -cum "$BIN" "$WORK/cpu.pprof" 2>/dev/null | awk '$6 == "github.com/fwdproxy/fwdproxy/proxy.(*rawIOConn).Write" {print $5; exit}')
		READS=$(go tool pprof -top -cum "$BIN" "$WORK/cpu.pprof" 2>/dev/null | awk '$6 == "github.com/fwdproxy/fwdproxy/proxy.(*rawIOConn).Read" {print $5; exit}')
		SCHED=$(go tool pprof -top -cum "$BIN" "$WORK/cpu.pprof" 2>/dev/null | awk '$6 == "runtime.findRunnable" {print $5; exit}')
		PROFILE="System calls take ${SYSCALLS:-?} of the proxy's CPU: socket writes ${WRITES:-?} (on loopback a
write also runs the receiving side's TCP processing and wakes it), socket reads ${READS:-?}; the Go
scheduler looking for work between them ${SCHED:-?}. Classification, routing and relaying together are a
few percent. Top of the profile (go tool pprof -top):

$FENCE
$PROFILE
$FENCE"
	fi
	sleep 2
fi

for p in ses ev sock rfloor wfloor refloor wefloor rufloor wufloor; do stop_proxy "$p"; done

# ---------------------------------------------------------------- full: memory
log "building memprobe"
go build -o "$WORK/memprobe" ./bench/memprobe
start_proxy mem1 EVENTUAL
log "streaming $STREAM_ROWS rows x $STREAM_WIDTH bytes through a fresh proxy"
"$WORK/memprobe" stream -pid "${PROXY_PID[mem1]}" -addr "127.0.0.1:${PROXY_PORT[mem1]}" \
	-user "$TEST_USER" -password "$TEST_PASSWORD" -db sbtest -rows "$STREAM_ROWS" \
	-width "$STREAM_WIDTH" >"$WORK/stream.out" || { cat "$WORK/stream.out" >&2; die "stream test failed"; }
stop_proxy mem1

old_max=$(rroot "SELECT @@max_connections")
want=$((IDLE_SESSIONS + 100))
[ "$want" -lt 2000 ] && want=2000
if [ "$old_max" -lt "$want" ]; then
	MAXCONN_RESTORE=$old_max
	rroot "SET GLOBAL max_connections=$want"
fi
start_proxy mem2 EVENTUAL
log "opening $IDLE_SESSIONS idle sessions through a fresh proxy (replica max_connections $want)"
idle_rc=0
"$WORK/memprobe" idle -pid "${PROXY_PID[mem2]}" -addr "127.0.0.1:${PROXY_PORT[mem2]}" \
	-user "$TEST_USER" -password "$TEST_PASSWORD" -n "$IDLE_SESSIONS" \
	-count "reader=$READER_ADDR,writer=$WRITER_ADDR" -root-user "$ROOT_USER" \
	-root-password "$ROOT_PASSWORD" >"$WORK/idle.out" || idle_rc=$?
stop_proxy mem2
if [ -n "$MAXCONN_RESTORE" ]; then
	rroot "SET GLOBAL max_connections=$MAXCONN_RESTORE"
	MAXCONN_RESTORE=""
fi
[ "$idle_rc" = 0 ] || { cat "$WORK/idle.out" >&2; echo "bench: idle-session test had failures" >&2; }

catch_up
if [ "$(wsql "SELECT @@gtid_binlog_pos")" = "$(rsql "SELECT @@gtid_binlog_pos")" ]; then
	REPLICA_CHECK="replica caught up, its binlog holds exactly the writer's GTIDs (no GTID of its own)"
else
	REPLICA_CHECK="WARNING: replica gtid_binlog_pos $(rsql "SELECT @@gtid_binlog_pos") differs from the writer's $(wsql "SELECT @@gtid_binlog_pos")"
fi

# ---------------------------------------------------------------- report
declare -A RATIO US
TABLE="| workload | threads | mode | QPS direct | QPS proxy | ratio | p95 ms direct | p95 ms proxy | proxy CPU µs/query | errors direct / proxy |
|---|---|---|---|---|---|---|---|---|---|"
for c in "${CONFIGS[@]}"; do
	IFS='|' read -r cfg workload threads label _ more <<<"$c"
	qd=$(med "$cfg" direct 4)
	pd=$(med "$cfg" direct 5)
	for pm in $(proxied_modes "$cfg" "$more"); do
		lab=$label
		[ "$cfg" = rw ] && lab=EVENTUAL
		case $pm in
		session) lab=SESSION ;;
		sock) lab="$lab, reader over its Unix socket" ;;
		floor) lab="bare Go relay, no MySQL protocol (floor)" ;;
		efloor) lab="bare relay as one epoll loop, no Go scheduler (floor)" ;;
		ufloor) lab="bare relay as one io_uring loop, batched system calls (floor)" ;;
		esac
		qp=$(med "$cfg" "$pm" 4)
		RATIO[$cfg-$pm]=$(ratio "$qp" "$qd")
		US[$cfg-$pm]=$(med "$cfg" "$pm" 9)
		TABLE+="
| $workload | $threads | $lab | $(fmt0 "$qd") | $(fmt0 "$qp") | ${RATIO[$cfg-$pm]} | $pd | $(med "$cfg" "$pm" 5) | ${US[$cfg-$pm]} | $(errs "$cfg" direct) / $(errs "$cfg" "$pm") |"
	done
done
SES_VS_EV=$(ratio "$(med rw session 4)" "$(med rw eventual 4)")

S_GROWTH=$(kv rss_growth_kb "$WORK/stream.out")
I_PER=$(kv kb_per_session "$WORK/idle.out")
# check VALUE OP LIMIT: met / missed
check() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
	if (v == "n/a" || v == "") { print "n/a"; exit }
	ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print ok ? "met" : "**missed**" }'; }
S_MB=$(awk -v k="$S_GROWTH" 'BEGIN {printf "%.1f", k / 1024}')
TARGETS="| target | limit | measured | |
|---|---|---|---|
| oltp_point_select, 8 threads, prepared: ratio | ≥ 0.68 | ${RATIO[ps8-proxy]} | $(check "${RATIO[ps8-proxy]}" ">=" 0.68) |
| oltp_point_select, 8 threads, prepared: proxy CPU per query | ≤ 7 µs | ${US[ps8-proxy]} µs | $(check "${US[ps8-proxy]}" "<=" 7) |
| oltp_read_only, 8 threads: ratio | ≥ 0.66 | ${RATIO[ro-proxy]} (skip_trx: ${RATIO[ros-proxy]}) | $(check "${RATIO[ro-proxy]}" ">=" 0.66) |
| oltp_read_write, 8 threads, EVENTUAL: ratio | ≥ 0.90 | ${RATIO[rw-eventual]} (SESSION: ${RATIO[rw-session]}) | $(check "${RATIO[rw-eventual]}" ">=" 0.90) |
| oltp_read_write: SESSION QPS ÷ EVENTUAL QPS | ≥ 0.90 | $SES_VS_EV | $(check "$SES_VS_EV" ">=" 0.90) |
| the same four, fwdproxy with the reader over its Unix socket | | point_select ${RATIO[ps8-sock]:-n/a}, ${US[ps8-sock]:-n/a} µs; read_only ${RATIO[ro-sock]:-n/a}; read_write ${RATIO[rw-sock]:-n/a} | for comparison |
| the same, bare Go relay (floor) | | point_select ${RATIO[ps8-floor]:-n/a}, ${US[ps8-floor]:-n/a} µs; read_only ${RATIO[ro-floor]:-n/a}; read_write ${RATIO[rw-floor]:-n/a} | for comparison |
| the same, bare relay as one epoll loop (floor) | | point_select ${RATIO[ps8-efloor]:-n/a}, ${US[ps8-efloor]:-n/a} µs; read_only ${RATIO[ro-efloor]:-n/a}; read_write ${RATIO[rw-efloor]:-n/a} | for comparison |
| the same, bare relay as one io_uring loop (floor) | | point_select ${RATIO[ps8-ufloor]:-n/a}, ${US[ps8-ufloor]:-n/a} µs; read_only ${RATIO[ro-ufloor]:-n/a}; read_write ${RATIO[rw-ufloor]:-n/a} | for comparison |
| RSS growth streaming ${STREAM_ROWS} rows × ${STREAM_WIDTH} B | ≤ 16 MB | $S_MB MB | $(check "$S_GROWTH" "<=" 16384) |
| RSS per idle session | ≤ 64 KB | ${I_PER:-n/a} KB | $(check "${I_PER:-n/a}" "<=" 64) |"

first_err=$(kv first_error "$WORK/idle.out")
MEMORY="* Streaming: \`SELECT REPEAT('x', $STREAM_WIDTH) FROM seq_1_to_$STREAM_ROWS\` through a freshly started
  proxy (text protocol, $(kv bytes "$WORK/stream.out") bytes of values, one client reading as fast as it can,
  $(kv seconds "$WORK/stream.out") s). VmRSS before: $(kv rss_before_kb "$WORK/stream.out") kB; peak:
  $(kv rss_peak_kb "$WORK/stream.out") kB (VmRSS sampled every 10 ms, $(kv samples "$WORK/stream.out") samples,
  and VmHWM $(kv hwm_before_kb "$WORK/stream.out") → $(kv hwm_after_kb "$WORK/stream.out") kB).
  **Growth: $S_GROWTH kB.**
* Idle sessions: $(kv sessions "$WORK/idle.out") client sessions opened through a freshly started proxy
  ($(kv failed "$WORK/idle.out") failed; 32 at a time, each pinged once, all open after
  $(kv open_seconds "$WORK/idle.out") s), then left idle. VmRSS before: $(kv rss_before_kb "$WORK/idle.out") kB
  (after one session opened and closed); two seconds after the last one opened: $(kv rss_after_kb "$WORK/idle.out") kB.
  **$(kv kb_per_session "$WORK/idle.out") kB per session.** Backend connections while they were held
  (Threads_connected): reader $(kv reader_threads_before "$WORK/idle.out") → $(kv reader_threads_held "$WORK/idle.out"),
  writer $(kv writer_threads_before "$WORK/idle.out") → $(kv writer_threads_held "$WORK/idle.out").
  The replica's max_connections was raised from $old_max to $want for this test and restored after.${first_err:+
  First error: $first_err}"

RAW="| workload | mode | repeat | QPS | p95 ms | ignored errors | rc | proxy µs/query | load avg after | other processes' CPU |
|---|---|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r cfg mode rep qps p95 errs rc queries us load other; do
	RAW+="
| $cfg | $mode | $rep | $qps | $p95 | $errs | $rc | $us | $load | $other % |"
done <"$RUNS"

OTHER_MED=$(awk -F'\t' '{print $11}' "$RUNS" | median)
OTHER_MAX=$(awk -F'\t' '{print $11}' "$RUNS" | sort -g | tail -n 1)
NOISE="Share of the machine's CPU used by processes outside this benchmark (not the proxies, the two
servers or sysbench) during the runs: median $OTHER_MED %, highest $OTHER_MAX % (per run in the last
column of \"All runs\")."
if awk -v m="$OTHER_MED" 'BEGIN {exit !(m + 0 > 5)}'; then
	NOISE="**Warning: other processes were busy on this machine during the runs, so these figures are noisy
and not comparable with quiet runs.** $NOISE"
fi
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM_TOTAL=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] && GIT_REV="$GIT_REV + uncommitted changes"
MARIADB_VERSION=$(wsql "SELECT VERSION()")
ELAPSED=$((SECONDS - T0))

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# Benchmarks

Generated by \`bench/run.sh\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC') in $ELAPSED s. Re-run it to refresh
this page; \`make bench-smoke\` is the short check that \`make test\` runs.

## Machine and versions
* $(nproc) CPUs ($CPU_MODEL), $MEM_TOTAL memory, Linux $(uname -r). The proxy, sysbench and both
  MariaDB servers share these CPUs, so every proxied run also takes CPU away from the servers.
  Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg).
* $(go version | sed 's/^go version //'); MariaDB $MARIADB_VERSION (writer and GTID replica from
  \`integration/pair.sh\`); $(sysbench --version); fwdproxy $GIT_REV.

## Method
* Data: sysbench tables prepared on the writer (database \`sbtest\`, $TABLES tables × $TABLE_SIZE rows),
  replicated to the replica.
* Direct runs go to the replica for the read workloads and to the writer for \`oltp_read_write\`.
  Proxied runs go through \`fwdproxy serve\` with \`--default-consistency EVENTUAL\` (read workloads
  and the EVENTUAL row) or \`SESSION\` (a second proxy instance, the SESSION row), user \`fwd\`.
* Two more things are measured in the same run, for comparison, on some workloads: fwdproxy with
  \`--reader\` set to the replica's Unix socket (the writer still over TCP), as when the proxy runs
  on the replica's host $SOCK_NOTE; and \`bench/floorrelay\`, a bare Go relay that copies bytes both
  ways with \`io.CopyBuffer\` and never reads the MySQL protocol (to the replica; to the writer for
  \`oltp_read_write\`). The relay is the floor for any Go proxy on this machine: what it costs per
  query is kernel TCP work and the Go scheduler, none of it protocol handling. \`floorrelay -epoll\`
  is the same relay as one level-triggered epoll loop on one OS thread with raw read/write system
  calls (no goroutines): the floor for a proxy built like ProxySQL's worker threads.
  \`floorrelay -uring\` is that loop on io_uring (COOP_TASKRUN, no SQPOLL): one recv outstanding per
  socket, and every turn submits all sends and receives and collects all completions in one
  \`io_uring_enter\`, so a busy loop makes one system call for many sessions.
* For each workload the direct and proxied runs alternate, the order reversed on every other repeat,
  $REPEATS repeats of $TIME s each, after a short unrecorded warm-up. Before every run the replica
  catches up with the writer (\`MASTER_GTID_WAIT\` of the writer's \`@@gtid_binlog_pos\`).
* QPS and p95 latency (\`--percentile=95\`) are sysbench's; the table shows the median over the
  repeats. Ratio = median proxied QPS ÷ median direct QPS.
* Proxy CPU per query = (utime + stime of the fwdproxy process over the sysbench run, from
  \`/proc/PID/stat\`, in clock ticks × 10⁶ ÷ CLK_TCK) ÷ sysbench's query count (BEGIN and COMMIT
  count as queries), median over the repeats.
* Errors are sysbench's ignored errors (deadlocks and lock wait timeouts) summed over the repeats;
  any other error aborts the run and is counted as failed.

## Results
$NOISE

$TABLE

SESSION QPS ÷ EVENTUAL QPS for oltp_read_write: $SES_VS_EV.

## Memory
$MEMORY

## Targets
$TARGETS

## ProxySQL 2.7 and other peers, for reference
Measured earlier on a machine of the same kind with the same MariaDB pair and sysbench (from
DESIGN.md "Peers measured here"); QPS through the proxy ÷ QPS direct to the replica, and proxy CPU
per query:

| workload | ProxySQL 2.7 | kingshard | Gaea |
|---|---|---|---|
| oltp_point_select, 8 threads, prepared statements | 0.49, 16 µs | fails | fails |
| oltp_point_select, 8 threads, text protocol | 0.54, 10 µs | 0.44, 12 µs | 0.40, 16 µs |
| oltp_read_only, 8 threads | 0.47, 13 µs | fails | fails |
| oltp_read_write, 8 threads | 0.86, 14 µs | fails | fails |

## Checks
* $REPLICA_CHECK.

## Profile
$PROFILE

## What stands in the way of the CPU targets
* In this run fwdproxy cost ${US[ps8-proxy]} µs of CPU per prepared point select and the bare Go relay,
  which only copies bytes, ${US[ps8-floor]} µs (read_only ${US[ro-proxy]} vs ${US[ro-floor]}, read_write
  ${US[rw-eventual]} vs ${US[rw-floor]}): at or within noise of the relay, although fwdproxy also
  classifies, routes, tracks session state and fixes status flags. The proxy's own work is not where
  the time goes.
* Without the Go scheduler at all, the same relay as one epoll loop cost ${US[ps8-efloor]:-n/a} µs per
  point select (read_only ${US[ro-efloor]:-n/a}, read_write ${US[rw-efloor]:-n/a}): what is left is the
  kernel's work for two reads and two writes per query.
* The profile above says where it goes: about four fifths in system calls. On loopback a write(2)
  also runs the receiving socket's TCP input and wakes the process that waits on it, which on this
  virtual machine is most of the cost; a point select needs two writes through the proxy (to the
  replica, to the client) and at least two reads. The rest is the Go scheduler parking and waking
  the session between them (epoll). ≤ 7 µs per query is below what even the epoll loop costs here.
* Batching the system calls does not get there either: the relay as one io_uring loop, which
  submits every session's sends and receives in one \`io_uring_enter\` per turn, cost
  ${US[ps8-ufloor]:-n/a} µs per point select (read_only ${US[ro-ufloor]:-n/a}, read_write
  ${US[rw-ufloor]:-n/a}). The work that remains is the kernel's TCP send and receive and the
  wake-ups, which every design pays per packet.
* The reader over its Unix socket saves the TCP stack on the replica side: ${US[ps8-sock]:-n/a} µs and
  ratio ${RATIO[ps8-sock]:-n/a} for the prepared point select (\`--reader /path/to/mysqld.sock\`).
* For oltp_read_write, the Go relay's ratio (${RATIO[rw-floor]}) is what a Go proxy with a goroutine
  per connection can expect here; fwdproxy (${RATIO[rw-eventual]}) also moves the reads to the replica,
  where a read-only transaction opens with its first read and commits without the client waiting.
  The loop relays reach ${RATIO[rw-efloor]:-n/a} (epoll) and ${RATIO[rw-ufloor]:-n/a} (io_uring) at about 5 µs
  less CPU per query: the Go scheduler's parking and waking between a session's packets is the
  one cost here that a different design (one event loop per core, like ProxySQL's) would win back,
  and even then the ratio stays under 0.90.
* Tried and measured while getting here (alternating binaries, same pair): socket I/O through
  \`RawSyscall\` instead of \`syscall.Syscall\` (kept: it stops waking the runtime's sysmon thread
  after every packet; read_write 23.0 → 19.8 µs/query); push tracking only while a session reads at
  SESSION or GLOBAL (kept: read_write EVENTUAL 21.7 → 17.1); the writer idle timer armed once per
  connection instead of reset per command (kept); the reader's START TRANSACTION sent with the
  transaction's first read there, and its COMMIT not waited for (kept: two reader round trips less
  per transaction; on loopback within noise); a backend request written inside the read of its
  reply instead of before it (kept: \`perf stat\` counts 7.23 → 6.02 system calls per point select
  and 8.97 → 7.66 per read_write query, one empty read less per round trip; CPU within noise, an
  empty read costs about 140 ns here); push tracking off by default (kept: SESSION
  read_write went from about 0.8 of EVENTUAL to about 0.93, see docs/consistency.md). Not kept: blocking sockets with a receive timeout
  (a thread per session; 12.3 vs 11.3 µs, worse), GOMAXPROCS 16 (15–17 µs, worse), GOMAXPROCS 1 (no
  change on point_select; read_write 14.1–14.6 vs 15.3–15.5 µs, same QPS), TCP congestion control \`reno\` instead of the host's \`bbr\` on the
  proxy's sockets (about −0.5 µs; a proxy should not override the host's choice for real networks).

## All runs
In the order they ran (cfg: ps = point select prepared, tx = point select text, ro = read_only,
ros = read_only --skip_trx=on, rw = read_write; the number is the thread count).

$RAW
EOF

echo "$NOISE"
echo
echo "$TABLE"
echo
echo "$TARGETS"
echo
echo "$MEMORY"
echo
echo "* $REPLICA_CHECK"
log "wrote $OUT"
