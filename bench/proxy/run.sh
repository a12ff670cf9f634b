#!/usr/bin/env bash
# hearth proxy vs nginx, HAProxy and Caddy as minimal keep-alive reverse proxies to the
# same upstream (nginx serving a 3-byte body and a 64 KB body), in the same run, each
# pinned with taskset to the same cores (BENCH_PROXY_CPUS, default all but the last;
# wrk and the upstream get the last). Plain and TLS. Prints requests/s, p99 and the
# ratio hearth/peer per case, then memory per idle keep-alive client connection
# (RSS delta with BENCH_IDLE_CONNS, default 10,000, connections held open after one
# request each). BENCH_PROXIES picks a subset (default "hearth nginx haproxy caddy").
# Never part of `make test`.
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
head -c 65536 /dev/urandom | base64 -w 0 | head -c 65536 >"$T/64k"
chmod a+rx "$T" && chmod a+r "$T/64k" # nginx workers run as nobody when started as root

# the upstream: one nginx on the wrk CPU
up=$(free_port)
nginx_start up "$last" 1 20000 <<CONF
    server {
        listen 127.0.0.1:$up;
        location = /small { default_type text/plain; return 200 "ok\n"; }
        location = /64k { default_type application/octet-stream; alias $T/64k; }
    }
CONF
BENCH_PIDS+=($!)

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
# figure is its best round: the highest requests/s and, separately, the lowest p99.
declare -A RPS P99
for round in $(seq "$ROUNDS"); do
	for scheme in http https; do
		for path in small 64k; do
			for p in "${PEERS[@]}"; do
				port=${PORT[$p]}
				[ "$scheme" = https ] && port=${TPORT[$p]}
				read -r rps p99 < <(wrk_run "$scheme://127.0.0.1:$port/$path")
				k=$p.$scheme.$path
				awk -v a="$rps" -v b="${RPS[$k]:-0}" 'BEGIN { exit !(a > b) }' && RPS[$k]=$rps
				[ -z "${P99[$k]:-}" ] || awk -v a="$p99" -v b="${P99[$k]}" 'BEGIN { exit !(a < b) }' &&
					P99[$k]=$p99
			done
		done
	done
done

printf '\nbench/proxy: keep-alive reverse proxy, proxies on CPUs %s (%s workers each), wrk -t1 -c%s -d%ss on CPU %s\n' \
	"$CPUS" "$NCPU" "$BENCH_CONNS" "$BENCH_SECONDS" "$last"
printf '%-6s %-6s %-10s %12s %9s %14s %14s\n' scheme body proxy requests/s p99_ms "hearth/peer rps" "p99 peer/hearth"
for scheme in http https; do
	for path in small 64k; do
		for p in "${PEERS[@]}"; do
			k=$p.$scheme.$path h=hearth.$scheme.$path
			awk -v s="$scheme" -v b="$path" -v p="$p" -v r="${RPS[$k]}" -v l="${P99[$k]}" \
				-v hr="${RPS[$h]:-0}" -v hl="${P99[$h]:-0}" 'BEGIN {
				printf "%-6s %-6s %-10s %12.0f %9.2f %14.2f %14.2f\n", s, b, p, r, l, (r > 0 ? hr / r : 0), (hl > 0 ? l / hl : 0) }'
		done
	done
done
