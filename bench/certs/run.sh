#!/usr/bin/env bash
# hearth certs issuing BENCH_CERTS (default 300) Certificates from a CA ClusterIssuer
# (ECDSA P-256 keys) vs the openssl command doing the same work in a shell loop (genpkey
# + req + x509 -CA per certificate), in the same run, both pinned to CPU 0 (the status
# poller runs on the last CPU). Prints certificates/s for both, the ratio hearth/openssl,
# and hearth's RSS: with no Certificates, when all are Ready, and idle 5 s later (total
# and per certificate). CPU seconds (user + system) are printed too: they move less than
# wall-clock time when other load shares the machine. Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
N=${BENCH_CERTS:-300}
TIMEOUT=${BENCH_CERTS_TIMEOUT:-120}
hearth="$BENCH_BUILD/hearth"
last=$(($(nproc) - 1))
[ -x "$hearth" ] || { echo "bench/certs: $hearth is missing (make bench builds it)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench/certs: openssl is missing" >&2; exit 1; }

T=$BENCH_TMP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=hearth bench CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$T/ca.key" -out "$T/ca.crt" 2>/dev/null

# issuers.yaml: the CA ClusterIssuer and its key pair in the cluster resource namespace.
issuers() {
	cat <<YAML
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: bench-ca}
spec: {ca: {secretName: bench-ca}}
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: bench-ca, namespace: cert-manager}
data:
  tls.crt: $(base64 -w 0 "$T/ca.crt")
  tls.key: $(base64 -w 0 "$T/ca.key")
YAML
}
mkdir -p "$T/empty" "$T/manifests"
issuers >"$T/empty/issuers.yaml"
issuers >"$T/manifests/issuers.yaml"
for i in $(seq "$N"); do
	cat >"$T/manifests/cert-$i.yaml" <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: cert-$i, namespace: bench}
spec:
  secretName: cert-$i-tls
  dnsNames: [cert-$i.bench.test, www.cert-$i.bench.test]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {name: bench-ca, kind: ClusterIssuer}
YAML
done

# poll.py PORT N TIMEOUT: polls /api/certificates every 20 ms until N certificates are
# Ready; prints the wall-clock time (s since the epoch) they were; exits 1 on timeout.
cat >"$T/poll.py" <<'PY'
import json, sys, time, urllib.request
port, n, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end, ready = time.time() + timeout, -1
while time.time() < end:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/certificates" % port, timeout=5) as r:
            ready = sum(1 for c in json.load(r) if c.get("ready") == "True")
    except OSError:
        pass
    if ready >= n:
        print("%.6f" % time.time())
        sys.exit(0)
    time.sleep(0.02)
sys.exit("%d of %d certificates Ready after %.0f s" % (max(ready, 0), n, timeout))
PY

# hearth_start DIR: starts hearth certs over DIR on CPU 0 (PID in $HPID, status port in
# $HSTATUS), its log in DIR.log.
hearth_start() {
	HSTATUS=$(free_port)
	HEARTH_LOG_LEVEL=warn taskset -c 0 "$hearth" certs --manifests "$1" \
		--solver "127.0.0.1:$(free_port)" --status "127.0.0.1:$HSTATUS" >"$1.log" 2>&1 &
	HPID=$!
	BENCH_PIDS=("$HPID")
}
# cpu_s PID: user + system CPU seconds the process has used so far.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
hearth_stop() {
	kill "$HPID"
	wait "$HPID" || true
	BENCH_PIDS=()
}

# Baseline: the process with the issuer and no Certificate.
hearth_start "$T/empty"
wait_port "$HSTATUS"
sleep 1
base_kb=$(rss_kb "$HPID")
hearth_stop

# Issuance: from the process start until the status endpoint lists N Ready.
t0=$(date +%s.%N)
hearth_start "$T/manifests"
if ! t1=$(taskset -c "$last" python3 "$T/poll.py" "$HSTATUS" "$N" "$TIMEOUT"); then
	tail -20 "$T/manifests.log" >&2
	exit 1
fi
ready_kb=$(rss_kb "$HPID")
hcpu=$(cpu_s "$HPID")
sleep 5
idle_kb=$(rss_kb "$HPID")
hearth_stop
secrets=$(find "$T/manifests" -name 'hearth-certs-bench-cert-*-tls.yaml' | wc -l)
[ "$secrets" -eq "$N" ] || { echo "bench/certs: $secrets Secret files for $N certificates" >&2; exit 1; }

# The anchor: the same work with the openssl command, one certificate after another.
mkdir -p "$T/openssl"
printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$T/ext.cnf"
o0=$(date +%s.%N)
TIMEFORMAT='%U %S'
{ time taskset -c 0 bash -c '
	set -e
	cd "$1"
	for i in $(seq "$2"); do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$i.key"
		openssl req -new -key "$i.key" -subj "/CN=cert-$i.bench.test" \
			-addext "subjectAltName=DNS:cert-$i.bench.test,DNS:www.cert-$i.bench.test" -out "$i.csr"
		openssl x509 -req -in "$i.csr" -CA "$3/ca.crt" -CAkey "$3/ca.key" -days 90 \
			-extfile "$3/ext.cnf" -copy_extensions copy -out "$i.crt" 2>/dev/null
	done' bench "$T/openssl" "$N" "$T" 2>"$T/openssl.err"; } 2>"$T/openssl.time"
o1=$(date +%s.%N)
ocpu=$(awk '{ printf "%.2f", $1 + $2 }' "$T/openssl.time")
openssl verify -CAfile "$T/ca.crt" "$T/openssl/$N.crt" >/dev/null

printf '\nbench/certs: %s Certificates, CA ClusterIssuer, ECDSA P-256 keys, on CPU 0, measured once\n' "$N"
awk -v n="$N" -v h0="$t0" -v h1="$t1" -v o0="$o0" -v o1="$o1" \
	-v hc="$hcpu" -v oc="$ocpu" -v b="$base_kb" -v r="$ready_kb" -v i="$idle_kb" 'BEGIN {
	h = h1 - h0; o = o1 - o0
	printf "%-28s %9s %15s %8s %18s\n", "issuer", "seconds", "certificates/s", "cpu_s", "certificates/cpu_s"
	printf "%-28s %9.2f %15.0f %8.2f %18.0f\n", "hearth certs (to all Ready)", h, n / h, hc, n / hc
	printf "%-28s %9.2f %15.0f %8.2f %18.0f\n", "openssl command loop", o, n / o, oc, n / oc
	printf "ratio hearth/openssl: %.2f (certificates/s), %.2f (certificates per CPU second)\n",
		(n / h) / (n / o), (n / hc) / (n / oc)
	printf "hearth RSS: %d KiB with no Certificate, %d KiB when all %d Ready, %d KiB idle 5 s later\n", b, r, n, i
	printf "hearth RSS per certificate: %.1f KiB (idle RSS / N), %.1f KiB ((idle - no-Certificate RSS) / N)\n",
		i / n, (i - b) / n }'
