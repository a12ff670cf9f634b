#!/usr/bin/env bash
# hearth's HTTP server answering a small fixed response vs nginx `return 200`, one worker
# each pinned to the same CPU, wrk with keep-alive on the other CPU, same run. Prints
# requests/s, p99 latency and the ratio hearth/nginx (best of BENCH_ROUNDS runs each).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
ROUNDS=${BENCH_ROUNDS:-3}

nginx_port=$(free_port)
nginx_start nginx 0 1 4096 <<CONF
    server {
        listen 127.0.0.1:$nginx_port;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
CONF
BENCH_PIDS+=($!)

hearth_port=$(free_port)
HEARTH_LOG_LEVEL=warn taskset -c 0 "$BENCH_BUILD/tests/e2e/hc_testd" --listen "127.0.0.1:$hearth_port" --workers 1 &
BENCH_PIDS+=($!)
wait_port "$nginx_port"
wait_port "$hearth_port"

# Rounds alternate between the two servers, so a change in the machine's load hits both.
for _ in $(seq "$ROUNDS"); do
	wrk_run "http://127.0.0.1:$nginx_port/fixed" >>"$BENCH_TMP/nginx.txt"
	wrk_run "http://127.0.0.1:$hearth_port/fixed" >>"$BENCH_TMP/hearth.txt"
done
best() { sort -n -k1 "$1" | tail -1; }
read -r n_rps n_p99 <<<"$(best "$BENCH_TMP/nginx.txt")"
read -r h_rps h_p99 <<<"$(best "$BENCH_TMP/hearth.txt")"

printf '\nbench/http: small fixed response, 1 worker, wrk -t1 -c%s -d%ss keep-alive, best of %s\n' \
	"$BENCH_CONNS" "$BENCH_SECONDS" "$ROUNDS"
printf '%-16s %14s %10s\n' server requests/s p99_ms
printf '%-16s %14.0f %10.2f\n' "nginx $(nginx -v 2>&1 | sed 's|.*/||')" "$n_rps" "$n_p99"
printf '%-16s %14.0f %10.2f\n' "hearth" "$h_rps" "$h_p99"
printf 'all rounds (requests/s p99_ms): nginx: %s; hearth: %s\n' \
	"$(paste -sd, "$BENCH_TMP/nginx.txt")" "$(paste -sd, "$BENCH_TMP/hearth.txt")"
awk -v h="$h_rps" -v n="$n_rps" 'BEGIN { printf "ratio hearth/nginx: %.2f\n", h / n }'
