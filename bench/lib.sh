# Shared by the benchmarks: free ports, nginx instances, wrk runs and their figures,
# process cleanup.
# Sourced, not run.

BENCH_BUILD=${BENCH_BUILD:-build-bench}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_TMP=$(mktemp -d /tmp/hearth-bench.XXXXXX)
BENCH_PIDS=()

bench_cleanup() {
	for pid in "${BENCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT

# free_port: prints a loopback TCP port that is free now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: waits up to 10 s for a listener.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# nginx_start NAME CPUS WORKERS CONNECTIONS [DIRECTIVE...] <HTTP_BODY: starts nginx in the
# background (its PID in $! afterwards), pinned with taskset to CPUS, with its files in
# $BENCH_TMP/NAME. Each DIRECTIVE (no ';') goes in the main context; stdin is the rest of
# the http block, after the keep-alive settings every benchmark shares.
nginx_start() {
	local dir=$BENCH_TMP/$1 cpus=$2 workers=$3 conns=$4 d
	shift 4
	mkdir -p "$dir/logs"
	{
		echo "worker_processes $workers;"
		for d in "$@"; do echo "$d;"; done
		cat <<CONF
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections $conns; }
http {
    access_log off;
    keepalive_requests 1000000;
CONF
		cat
		echo "}"
	} >"$dir/nginx.conf"
	taskset -c "$cpus" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' </dev/null &
}

# wrk_run URL [wrk args...]: prints "requests_per_s p99_ms" for one wrk run pinned to
# the last CPU (servers get the first).
wrk_run() {
	local url=$1
	shift
	local cpu=$(($(nproc) - 1))
	local out
	out=$(taskset -c "$cpu" wrk -t1 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" --latency "$@" "$url")
	local rps p99
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "wrk reported errors for $url:" >&2
		grep "Non-2xx\|Socket errors" <<<"$out" >&2
	fi
	echo "$rps $p99"
}

# cpu_ticks PID: CPU time (user + system, clock ticks) of PID and its children so far.
cpu_ticks() {
	local total=0 pid
	for pid in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

# rss_kb PID: resident set size in KiB.
rss_kb() {
	awk '/^VmRSS/ {print $2}' "/proc/$1/status"
}
