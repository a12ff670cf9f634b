#!/usr/bin/env bash
# hearth capture's ingest: the highest HEP3/UDP rate it stores with zero loss (every
# message sent is a row in the database once the writer drained), on SQLite and on
# PostgreSQL, beside the storage ceiling of the same database (hepgen inserting the same
# heplify rows straight into hep_proto_1_call in batches: COPY on PostgreSQL, prepared
# INSERTs in transactions on SQLite, durable commits on both) and beside kamailio 5.6's
# sipcapture module (4 children, maxbuffer 8 MB) writing to the same PostgreSQL. Then the
# search latency (GET /api/calls?caller=..., p50 and p95) over BENCH_CAPTURE_SEARCH
# messages (default 10,000,000) stored through the same ingest path.
#
# Knobs: BENCH_CAPTURE_SECONDS (load per step, default 20: long against the service's
# 200,000-row queue, so a step measures sustained writing, not the queue absorbing a burst), BENCH_CAPTURE_RATES (hearth's
# ladder), BENCH_CAPTURE_KAM_RATES (kamailio's), BENCH_CAPTURE_SEARCH (0 skips the search
# part), BENCH_CAPTURE_PEERS (default "sqlite pg kamailio"). Servers run on all CPUs but
# the last (BENCH_CAPTURE_CPUS); hepgen on the last. Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
STEP_S=${BENCH_CAPTURE_SECONDS:-20}
read -r -a RATES <<<"${BENCH_CAPTURE_RATES:-5000 10000 20000 30000 40000 50000 65000 80000 100000 130000}"
read -r -a KAM_RATES <<<"${BENCH_CAPTURE_KAM_RATES:-1000 2000 3000 4000 5000 6000 8000 10000 15000}"
SEARCH_N=${BENCH_CAPTURE_SEARCH:-10000000}
read -r -a PEERS <<<"${BENCH_CAPTURE_PEERS:-sqlite pg kamailio}"
last=$(($(nproc) - 1))
CPUS=${BENCH_CAPTURE_CPUS:-$([ "$last" -gt 0 ] && echo "0-$((last - 1))" || echo 0)}
hearth=$(realpath -m "$BENCH_BUILD/hearth")
hepgen=$(realpath -m "$BENCH_BUILD/tests/e2e/hepgen")
for f in "$hearth" "$hepgen"; do
	[ -x "$f" ] || { echo "bench/capture: $f is missing (make bench builds it)" >&2; exit 1; }
done
for tool in sqlite3 psql curl python3; do
	command -v "$tool" >/dev/null || { echo "bench/capture: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done
T=$BENCH_TMP
chmod a+rx "$T"
RUN=0 # makes every step's Call-IDs distinct
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# ---- PostgreSQL: one throwaway server for hearth and kamailio ----
PG_BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
	PG_PORT=$(free_port)
	mkdir -p "$T/pg" && chown postgres "$T/pg" 2>/dev/null || true
	as_pg "$PG_BIN/initdb" -D "$T/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
	as_pg "$PG_BIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/log" -w -o \
		"-c listen_addresses=127.0.0.1 -p $PG_PORT -k $T/pg -c max_connections=50" start >/dev/null
}
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$T/pg/data" -m fast stop >/dev/null 2>&1 || true; }
psql_q() { psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"; }

# ---- hearth capture ----
HEARTH_PID=
hearth_start() { # DATABASE_URL
	HEP_PORT=$(free_port) HTTP_PORT=$(free_port)
	# run from $T: a standalone service keeps its state in the working directory
	(cd "$T" && ADMIN_PASSWORD=bench-admin DATABASE_URL=$1 HEARTH_LOG_LEVEL=warn \
		exec taskset -c "$CPUS" "$hearth" capture --hep "127.0.0.1:$HEP_PORT" \
		--http "127.0.0.1:$HTTP_PORT") >>"$T/hearth.log" 2>&1 &
	HEARTH_PID=$!
	BENCH_PIDS+=("$HEARTH_PID")
	wait_port "$HTTP_PORT"
}
hearth_stop() {
	kill "$HEARTH_PID" 2>/dev/null || true
	for _ in $(seq 300); do kill -0 "$HEARTH_PID" 2>/dev/null || return 0; sleep 0.1; done
	echo "hearth did not stop within 30 s" >&2
	return 1
}

# wait_rows COUNT_FN EXPECTED: polls the row count until it reaches EXPECTED or stops
# growing for 5 s (at most 300 s); prints the last count.
wait_rows() {
	local fn=$1 want=$2 n prev=-1 still=0
	for _ in $(seq 600); do
		n=$("$fn")
		[ "$n" -ge "$want" ] && break
		if [ "$n" = "$prev" ]; then still=$((still + 1)); else still=0; fi
		[ "$still" -ge 10 ] && break
		prev=$n
		sleep 0.5
	done
	echo "$n"
}

# ladder NAME PORT COUNT_FN RATE...: sends STEP_S seconds of load at each rate until a
# step loses messages; prints "NAME best_zero_loss_rate" and a line per step on stderr.
ladder() {
	local name=$1 port=$2 fn=$3 rate before after sent best=0 t0 secs
	shift 3
	for rate in "$@"; do
		sent=$((rate * STEP_S))
		RUN=$((RUN + 1))
		before=$("$fn")
		t0=$(date +%s.%N)
		taskset -c "$last" "$hepgen" send "127.0.0.1:$port" "$sent" "$rate" "r$RUN-$$" >"$T/gen.out"
		after=$(wait_rows "$fn" $((before + sent)))
		secs=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
		local stored=$((after - before))
		echo "  $name: $rate msg/s for ${STEP_S}s: sent $sent, stored $stored, all stored after ${secs}s ($(cat "$T/gen.out"))" >&2
		[ "$stored" -lt "$sent" ] && break
		best=$rate
	done
	echo "$best"
}

count_sqlite() { sqlite3 "$T/capture.db" "SELECT count(*) FROM hep_proto_1_call" 2>/dev/null || echo 0; }
count_pg() { psql_q hearth "SELECT count(*) FROM hep_proto_1_call"; }
count_kam() { psql_q kam "SELECT count(*) FROM sip_capture"; }

declare -A BEST CEIL
need_pg=0
for p in "${PEERS[@]}"; do [ "$p" != sqlite ] && need_pg=1; done
[ "$need_pg" = 1 ] && pg_start && trap 'pg_stop; bench_cleanup' EXIT

for p in "${PEERS[@]}"; do
	case $p in
	sqlite)
		# the ceiling first, into its own fresh copy of the schema hearth creates
		hearth_start "sqlite:$T/ceiling.db"
		hearth_stop
		CEIL[sqlite]=$(taskset -c "$CPUS" "$hepgen" insert "sqlite:$T/ceiling.db" 500000 2000 ceil |
			sed 's/.*rate=//')
		hearth_start "sqlite:$T/capture.db"
		BEST[sqlite]=$(ladder "hearth/SQLite" "$HEP_PORT" count_sqlite "${RATES[@]}")
		hearth_stop
		;;
	pg)
		psql_q postgres "CREATE DATABASE ceiling" >/dev/null
		hearth_start "postgresql://postgres@127.0.0.1:$PG_PORT/ceiling"
		hearth_stop
		CEIL[pg]=$(taskset -c "$CPUS" "$hepgen" insert "postgresql://postgres@127.0.0.1:$PG_PORT/ceiling" \
			500000 2000 ceil | sed 's/.*rate=//')
		psql_q postgres "CREATE DATABASE hearth" >/dev/null
		hearth_start "postgresql://postgres@127.0.0.1:$PG_PORT/hearth"
		BEST[pg]=$(ladder "hearth/PostgreSQL" "$HEP_PORT" count_pg "${RATES[@]}")
		hearth_stop
		;;
	kamailio)
		command -v kamailio >/dev/null || { echo "bench/capture: kamailio is missing" >&2; continue; }
		psql_q postgres "CREATE DATABASE kam" >/dev/null
		# kamailio 5.6 sipcapture's columns (src/modules/sipcapture/sipcapture.c) with
		# the indexes of its PostgreSQL schema.
		psql_q kam "CREATE TABLE sip_capture (id bigserial NOT NULL,
			date timestamp NOT NULL DEFAULT '1900-01-01 00:00:01', micro_ts bigint NOT NULL DEFAULT 0,
			method varchar NOT NULL DEFAULT '', reply_reason varchar NOT NULL DEFAULT '',
			correlation_id varchar NOT NULL DEFAULT '', ruri varchar NOT NULL DEFAULT '',
			ruri_user varchar NOT NULL DEFAULT '', ruri_domain varchar NOT NULL DEFAULT '',
			from_user varchar NOT NULL DEFAULT '', from_domain varchar NOT NULL DEFAULT '',
			from_tag varchar NOT NULL DEFAULT '', to_user varchar NOT NULL DEFAULT '',
			to_domain varchar NOT NULL DEFAULT '', to_tag varchar NOT NULL DEFAULT '',
			pid_user varchar NOT NULL DEFAULT '', contact_user varchar NOT NULL DEFAULT '',
			auth_user varchar NOT NULL DEFAULT '', callid varchar NOT NULL DEFAULT '',
			callid_aleg varchar NOT NULL DEFAULT '', via_1 varchar NOT NULL DEFAULT '',
			via_1_branch varchar NOT NULL DEFAULT '', cseq varchar NOT NULL DEFAULT '',
			diversion varchar NOT NULL DEFAULT '', reason varchar NOT NULL DEFAULT '',
			content_type varchar NOT NULL DEFAULT '', auth varchar NOT NULL DEFAULT '',
			user_agent varchar NOT NULL DEFAULT '', source_ip varchar NOT NULL DEFAULT '',
			source_port integer NOT NULL DEFAULT 0, destination_ip varchar NOT NULL DEFAULT '',
			destination_port integer NOT NULL DEFAULT 0, contact_ip varchar NOT NULL DEFAULT '',
			contact_port integer NOT NULL DEFAULT 0, originator_ip varchar NOT NULL DEFAULT '',
			originator_port integer NOT NULL DEFAULT 0, expires integer NOT NULL DEFAULT -1,
			proto integer NOT NULL DEFAULT 0, family integer NOT NULL DEFAULT 0,
			rtp_stat varchar NOT NULL DEFAULT '', type integer NOT NULL DEFAULT 0,
			node varchar NOT NULL DEFAULT '', msg varchar NOT NULL DEFAULT '',
			custom_field1 varchar NOT NULL DEFAULT '', custom_field2 varchar NOT NULL DEFAULT '',
			custom_field3 varchar NOT NULL DEFAULT '', PRIMARY KEY (id, date));
			CREATE INDEX ON sip_capture (ruri_user); CREATE INDEX ON sip_capture (from_user);
			CREATE INDEX ON sip_capture (to_user); CREATE INDEX ON sip_capture (pid_user);
			CREATE INDEX ON sip_capture (auth_user); CREATE INDEX ON sip_capture (callid_aleg);
			CREATE INDEX ON sip_capture (date); CREATE INDEX ON sip_capture (callid);" >/dev/null
		KAM_PORT=$(free_port)
		cat >"$T/kamailio.cfg" <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
children=4
disable_tcp=yes
maxbuffer=8388608
listen=udp:127.0.0.1:$KAM_PORT
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "db_postgres.so"
loadmodule "sipcapture.so"
modparam("sipcapture", "db_url", "postgres://postgres@127.0.0.1:$PG_PORT/kam")
modparam("sipcapture", "capture_on", 1)
modparam("sipcapture", "hep_capture_on", 1)
request_route { sip_capture(); drop; }
onreply_route { sip_capture(); drop; }
CFG
		taskset -c "$CPUS" kamailio -f "$T/kamailio.cfg" -DD -E -m 256 -P "$T/kam.pid" \
			>"$T/kamailio.log" 2>&1 &
		KPID=$!
		BENCH_PIDS+=("$KPID")
		sleep 2
		kill -0 "$KPID" 2>/dev/null || { cat "$T/kamailio.log" >&2; exit 1; }
		BEST[kamailio]=$(ladder "kamailio sipcapture" "$KAM_PORT" count_kam "${KAM_RATES[@]}")
		kill "$KPID" 2>/dev/null || true
		;;
	esac
done

echo
printf "%-26s %18s %18s\n" "zero-loss HEP3/UDP rate" "msg/s" "storage ceiling"
for p in sqlite pg; do
	[ -n "${BEST[$p]:-}" ] && printf "%-26s %18s %18s\n" "hearth capture ($p)" "${BEST[$p]}" "${CEIL[$p]:-}"
done
[ -n "${BEST[kamailio]:-}" ] && printf "%-26s %18s\n" "kamailio 5.6 sipcapture" "${BEST[kamailio]}"
if [ -n "${BEST[pg]:-}" ] && [ "${BEST[kamailio]:-0}" -gt 0 ]; then
	echo "ratio hearth(pg)/kamailio: $(python3 -c "print(round(${BEST[pg]}/${BEST[kamailio]}, 2))")"
fi

# ---- search latency over SEARCH_N stored messages (SQLite, through the ingest path) ----
[ "$SEARCH_N" -gt 0 ] || exit 0
rm -f "$T/capture.db"*
hearth_start "sqlite:$T/search.db"
rate=$(( ${BEST[sqlite]:-20000} * 8 / 10 ))
[ "$rate" -gt 0 ] || rate=10000
echo
echo "filling $SEARCH_N messages at $rate msg/s..."
taskset -c "$last" "$hepgen" send "127.0.0.1:$HEP_PORT" "$SEARCH_N" "$rate" search >"$T/gen.out"
count_search() { sqlite3 "$T/search.db" "SELECT count(*) FROM hep_proto_1_call" 2>/dev/null || echo 0; }
stored=$(wait_rows count_search "$SEARCH_N")
echo "stored $stored of $SEARCH_N ($(cat "$T/gen.out"))"
python3 - "$HTTP_PORT" "$stored" <<'PY'
import json, random, statistics, sys, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
base = "http://127.0.0.1:%d" % port
req = urllib.request.Request(base + "/api/auth/login", method="POST",
                             data=json.dumps({"username": "admin", "password": "bench-admin"}).encode(),
                             headers={"Content-Type": "application/json"})
token = json.load(urllib.request.urlopen(req, timeout=30))["token"]
calls = max(1, n // 6)
now = int(time.time() * 1000)
times, found = [], 0
rnd = random.Random(7)
for i in range(60):
    caller = "1%09d" % rnd.randrange(calls)
    url = "%s/api/calls?caller=%s&from=%d&to=%d&limit=50" % (base, caller, now - 86400000, now + 60000)
    r = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    t0 = time.monotonic()
    body = json.load(urllib.request.urlopen(r, timeout=60))
    times.append((time.monotonic() - t0) * 1000)
    found += 1 if body.get("total", 0) >= 1 else 0
times = times[10:]  # the first queries warm the page cache
q = statistics.quantiles(times, n=20)
print("search /api/calls?caller=... over %d messages: p50 %.1f ms, p95 %.1f ms (%d/60 callers found)"
      % (n, statistics.median(times), q[18], found))
PY
hearth_stop
