#!/usr/bin/env bash
# hearth proxy vs nginx, HAProxy and Caddy as minimal keep-alive reverse proxies to the
# same upstream (nginx serving a 3-byte body and a 64 KB body), in the same run, each
# pinned with taskset to the same cores (BENCH_PROXY_CPUS, default all but the last;
# wrk and the upstream get the last). Plain and TLS. Prints requests/s, p99 and the
# ratio hearth/peer per case, then memory per idle keep-alive client connection
# (RSS delta with BENCH_IDLE_CONNS, default 10,000, connections held open after one
# request each). BENCH_PROXIES picks a subset (default "hearth nginx haproxy caddy").
# Each case also reports the proxy's CPU time per request (its process tree's user +
# system time over the run). With one core each, the 64 KB cases are bound by wrk and
# the upstream on the other CPU rather than by the faster proxies, so a second pass runs
# them with every proxy capped at BENCH_PROXY_QUOTA percent of one core (default 50; a
# CFS quota through the cgroup cpu controller, v1 or v2; skipped when none is writable),
# where the proxy is the bottleneck. Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
ROUNDS=${BENCH_ROUNDS:-1}
IDLE=${BENCH_IDLE_CONNS:-10000}
last=$(($(nproc) - 1))
CPUS=${BENCH_PROXY_CPUS:-$([ "$last" -gt 0 ] && echo "0-$((last - 1))" || echo 0)}
NCPU=$(taskset -c "$CPUS" nproc)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# HAProxy reserves two descriptors per connection and refuses to start above the limit;
# its idle-connection figure is measured with as many connections as that allows.
HAPROXY_MAXCONN=$(( $(ulimit -n) / 2 - 200 ))
[ "$HAPROXY_MAXCONN" -gt 40000 ] && HAPROXY_MAXCONN=40000
read -r -a PEERS <<<"${BENCH_PROXIES:-hearth nginx haproxy caddy}"
hearth="$BENCH_BUILD/hearth"
if [[ " ${PEERS[*]} " == *" hearth "* ]] && [ ! -x "$hearth" ]; then
	echo "bench/proxy: $hearth is missing (make bench builds it)" >&2
	exit 1
fi
for tool in nginx haproxy caddy wrk openssl; do
	command -v "$tool" >/dev/null || { echo "bench/proxy: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done

T=$BENCH_TMP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
cat "$T/cert.pem" "$T/key.pem" >"$T/both.pem"
head -c 49152 /dev/urandom | base64 -w 0 >"$T/64k" # 65,536 characters
chmod a+rx "$T" && chmod a+r "$T/64k" # nginx workers run as nobody when started as root

# the upstream: one nginx on the wrk CPU, as cheap per request as it can be made, since
# it shares that CPU with wrk: the 64 KB file goes out by sendfile in full segments from
# a cached descriptor (measured: 18 % more requests/s through hearth at one core than
# read + writev; sendfile alone buys nothing, with tcp_nopush or open_file_cache alone
# 8-10 %)
up=$(free_port)
nginx_start up "$last" 1 20000 <<CONF
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16;
    server {
        listen 127.0.0.1:$up;
        location = /small { default_type text/plain; return 200 "ok\n"; }
        location = /64k { default_type application/octet-stream; alias $T/64k; }
    }
CONF
BENCH_PIDS+=($!)

# ---- CPU caps: one cgroup per proxy, unlimited until a capped pass ----
CG_ROOT=""
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers &&
	echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	CG_ROOT=/sys/fs/cgroup CG_V=2
elif [ -w /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
	CG_ROOT=/sys/fs/cgroup/cpu CG_V=1
fi
cg_dir() { echo "$CG_ROOT/hearth-bench-$$-$1"; }
# cg_join NAME PID: moves PID and its children into NAME's group.
cg_join() {
	local d pid
	d=$(cg_dir "$1")
	mkdir -p "$d" || return 1
	for pid in "$2" $(pgrep -P "$2" || true); do
		echo "$pid" >"$d/cgroup.procs" || return 1
	done
}
# cg_cap NAME PERCENT: caps NAME's group at PERCENT of one core over 10 ms periods
# (0: no cap).
cg_cap() {
	local d
	d=$(cg_dir "$1")
	if [ "$CG_V" = 2 ]; then
		if [ "$2" = 0 ]; then echo "max 10000" >"$d/cpu.max"; else echo "$(($2 * 100)) 10000" >"$d/cpu.max"; fi
	else
		echo 10000 >"$d/cpu.cfs_period_us"
		if [ "$2" = 0 ]; then echo -1 >"$d/cpu.cfs_quota_us"; else echo $(($2 * 100)) >"$d/cpu.cfs_quota_us"; fi
	fi
}
cg_cleanup() {
	local d pid
	[ -n "$CG_ROOT" ] || return 0
	for d in "$CG_ROOT"/hearth-bench-$$-*; do
		[ -d "$d" ] || continue
		for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do echo "$pid" >"$CG_ROOT/cgroup.procs" 2>/dev/null || true; done
		rmdir "$d" 2>/dev/null || true
	done
}
trap 'bench_cleanup; cg_cleanup' EXIT

declare -A PID PORT TPORT
start_nginx() {
	PORT[nginx]=$(free_port) TPORT[nginx]=$(free_port)
	nginx_start nginx "$CPUS" "$NCPU" 32768 "worker_rlimit_nofile 65536" <<CONF
    upstream be { server 127.0.0.1:$up; keepalive 64; }
    # Without this, nginx spools every response larger than its 8 x 4 KB proxy buffers
    # (the 64 KB case) to a temporary file: measured, that costs it most of its speed.
    proxy_max_temp_file_size 0;
    server {
        listen 127.0.0.1:${PORT[nginx]} reuseport;
        listen 127.0.0.1:${TPORT[nginx]} ssl reuseport;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
CONF
	PID[nginx]=$!
}
start_haproxy() {
	PORT[haproxy]=$(free_port) TPORT[haproxy]=$(free_port)
	cat >"$T/haproxy.cfg" <<CONF
global
  nbthread $NCPU
  maxconn $HAPROXY_MAXCONN
defaults
  mode http
  maxconn $HAPROXY_MAXCONN
  timeout connect 5s
  timeout client 300s
  timeout server 30s
frontend fe
  bind 127.0.0.1:${PORT[haproxy]}
  bind 127.0.0.1:${TPORT[haproxy]} ssl crt $T/both.pem
  default_backend be
backend be
  server s1 127.0.0.1:$up
CONF
	taskset -c "$CPUS" haproxy -f "$T/haproxy.cfg" -db &
	PID[haproxy]=$!
}
start_caddy() {
	PORT[caddy]=$(free_port) TPORT[caddy]=$(free_port)
	cat >"$T/Caddyfile" <<CONF
{
	admin off
	auto_https off
}
:${PORT[caddy]} {
	reverse_proxy 127.0.0.1:$up
}
https://127.0.0.1:${TPORT[caddy]} {
	tls $T/cert.pem $T/key.pem
	reverse_proxy 127.0.0.1:$up
}
CONF
	GOMAXPROCS=$NCPU XDG_DATA_HOME=$T XDG_CONFIG_HOME=$T taskset -c "$CPUS" \
		caddy run --config "$T/Caddyfile" --adapter caddyfile >"$T/caddy.log" 2>&1 &
	PID[caddy]=$!
}
start_hearth() {
	PORT[hearth]=$(free_port) TPORT[hearth]=$(free_port)
	cat >"$T/dynamic.yaml" <<CONF
http:
  routers:
    all:
      rule: PathPrefix(\`/\`)
      service: be
  services:
    be:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:$up
tls:
  certificates:
    - certFile: $T/cert.pem
      keyFile: $T/key.pem
CONF
	HEARTH_LOG_LEVEL=warn taskset -c "$CPUS" "$hearth" proxy --file "$T/dynamic.yaml" \
		--web "127.0.0.1:${PORT[hearth]}" --websecure "127.0.0.1:${TPORT[hearth]}" --api "" \
		--workers "$NCPU" &
	PID[hearth]=$!
}

for p in "${PEERS[@]}"; do
	"start_$p"
	BENCH_PIDS+=("${PID[$p]}")
done
wait_port "$up"
for p in "${PEERS[@]}"; do
	wait_port "${PORT[$p]}"
	wait_port "${TPORT[$p]}"
done

# Memory per idle keep-alive client connection: RSS (process and children) before and
# after IDLE connections that each made one request and then stay open. Measured first,
# on fresh processes: after the load runs, heap a proxy freed but kept would absorb the
# idle connections and hide what each one costs.
cat >"$T/idle.py" <<'PY'
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns, req = [], b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    buf = b""
    while not buf.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection %d closed" % i)
        buf += chunk
    conns.append(s)
print("ready", flush=True)
sys.stdin.read()
PY
tree_rss_kb() {
	local total=0 pid
	for pid in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(rss_kb "$pid")))
	done
	echo "$total"
}
printf '\nmemory per idle keep-alive connection (RSS delta over N connections)\n'
printf '%-10s %7s %10s %10s %12s\n' proxy N before_kb after_kb KiB/conn
for p in "${PEERS[@]}"; do
	n=$IDLE
	[ "$p" = haproxy ] && [ "$n" -gt $((HAPROXY_MAXCONN - 100)) ] && n=$((HAPROXY_MAXCONN - 100))
	before=$(tree_rss_kb "${PID[$p]}")
	coproc IDLER { taskset -c "$last" python3 "$T/idle.py" "${PORT[$p]}" "$n"; }
	if read -r -t 300 line <&"${IDLER[0]}" && [ "$line" = ready ]; then
		sleep 1
		after=$(tree_rss_kb "${PID[$p]}")
		awk -v p="$p" -v b="$before" -v a="$after" -v n="$n" \
			'BEGIN { printf "%-10s %7d %10d %10d %12.2f\n", p, n, b, a, (a - b) / n }'
	else
		echo "$p: the idle client did not get $n connections up" >&2
	fi
	idle_in=${IDLER[1]}
	exec {idle_in}>&-
	wait "$IDLER_PID" 2>/dev/null || true
done

# Rounds interleave the proxies (round 1: every case for every proxy, then round 2, ...)
# so that noise from other load on the machine spreads over all of them; each proxy's
# figure is its best round: the highest requests/s (with that round's CPU per request)
# and, separately, the lowest p99.
declare -A RPS P99 CPU
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# measure KEY URL PROXY: one wrk run, kept when it is KEY's best.
measure() {
	local t0 t1 rps p99
	t0=$(cpu_ticks "${PID[$3]}")
	read -r rps p99 < <(wrk_run "$2")
	t1=$(cpu_ticks "${PID[$3]}")
	if awk -v a="$rps" -v b="${RPS[$1]:-0}" 'BEGIN { exit !(a > b) }'; then
		RPS[$1]=$rps
		CPU[$1]=$(awk -v t=$((t1 - t0)) -v us="$TICK_US" -v r="$rps" -v s="$BENCH_SECONDS" \
			'BEGIN { printf "%.1f", (r > 0 ? t * us / (r * s) : 0) }')
	fi
	if [ -z "${P99[$1]:-}" ] || awk -v a="$p99" -v b="${P99[$1]}" 'BEGIN { exit !(a < b) }'; then
		P99[$1]=$p99
	fi
}
for round in $(seq "$ROUNDS"); do
	for scheme in http https; do
		for path in small 64k; do
			for p in "${PEERS[@]}"; do
				port=${PORT[$p]}
				[ "$scheme" = https ] && port=${TPORT[$p]}
				measure "$p.$scheme.$path" "$scheme://127.0.0.1:$port/$path" "$p"
			done
		done
	done
done

# The capped pass: 64 KB responses with each proxy held to QUOTA % of a core.
QUOTA=${BENCH_PROXY_QUOTA:-50}
CAPPED=0
if [ -n "$CG_ROOT" ] && [ "$QUOTA" -gt 0 ]; then
	CAPPED=1
	for p in "${PEERS[@]}"; do cg_join "$p" "${PID[$p]}" || CAPPED=0; done
fi
if [ "$CAPPED" = 1 ]; then
	for round in $(seq "$ROUNDS"); do
		for scheme in http https; do
			for p in "${PEERS[@]}"; do
				port=${PORT[$p]}
				[ "$scheme" = https ] && port=${TPORT[$p]}
				cg_cap "$p" "$QUOTA"
				measure "$p.$scheme.64k-capped" "$scheme://127.0.0.1:$port/64k" "$p"
				cg_cap "$p" 0
			done
		done
	done
else
	echo "bench/proxy: no writable cgroup cpu controller: the capped pass is skipped" >&2
fi

printf '\nbench/proxy: keep-alive reverse proxy, proxies on CPUs %s (%s workers each), wrk -t1 -c%s -d%ss on CPU %s\n' \
	"$CPUS" "$NCPU" "$BENCH_CONNS" "$BENCH_SECONDS" "$last"
[ "$CAPPED" = 1 ] && printf '64k-capped: each proxy held to %s%% of one core (CFS quota), where it is the bottleneck\n' "$QUOTA"
printf '%-6s %-11s %-10s %12s %9s %11s %14s %14s %14s\n' scheme body proxy requests/s p99_ms cpu_us/req \
	"hearth/peer rps" "p99 peer/hearth" "cpu peer/hearth"
bodies="small 64k"
[ "$CAPPED" = 1 ] && bodies="small 64k 64k-capped"
for scheme in http https; do
	for path in $bodies; do
		for p in "${PEERS[@]}"; do
			k=$p.$scheme.$path h=hearth.$scheme.$path
			awk -v s="$scheme" -v b="$path" -v p="$p" -v r="${RPS[$k]}" -v l="${P99[$k]}" -v c="${CPU[$k]}" \
				-v hr="${RPS[$h]:-0}" -v hl="${P99[$h]:-0}" -v hc="${CPU[$h]:-0}" 'BEGIN {
				printf "%-6s %-11s %-10s %12.0f %9.2f %11.1f %14.2f %14.2f %14.2f\n", s, b, p, r, l, c,
					(r > 0 ? hr / r : 0), (hl > 0 ? l / hl : 0), (hc > 0 ? c / hc : 0) }'
		done
	done
done
