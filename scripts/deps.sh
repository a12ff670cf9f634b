#!/usr/bin/env bash
# Installs the Debian packages hearth needs for one purpose: build, test or bench.
# Idempotent: asks dpkg first and runs `apt-get update` only when something is missing.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/deps.sh build|test|bench|fuzz

  build   compiler, Meson/Ninja and the -dev libraries hearth links
  test    build + the real peers the tests start (PostgreSQL, nginx, curl, ...)
  bench   build + the anchors and load generators (nginx, haproxy, wrk)
  fuzz    build + clang's libFuzzer runtime
EOF
}

build_pkgs=(gcc make pkg-config meson ninja-build python3
	libuv1-dev node-llhttp libssl-dev libjansson-dev libfyaml-dev
	libsqlite3-dev libpq-dev zlib1g-dev libbrotli-dev
	libpcre2-dev libcrypt-dev libmaxminddb-dev libpcap-dev)
test_pkgs=(libcmocka-dev postgresql curl openssl nginx-light procps chromium nodejs npm pebble
	sip-tester sngrep kamailio tshark iproute2)
bench_pkgs=(libcmocka-dev nginx-light haproxy caddy wrk procps util-linux postgresql
	kamailio kamailio-postgres-modules)
fuzz_pkgs=(clang libclang-rt-14-dev)

case "${1:-}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
fuzz) want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
-h | --help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac

# A tool that is already on PATH from elsewhere (Node.js from NodeSource, say) counts as
# installed: asking apt for Debian's package beside it would fight over the same files.
provided_by_path() {
	case "$1" in
	nodejs) command -v node >/dev/null 2>&1 ;;
	npm) command -v npm >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
	provided_by_path "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged nginx/postgresql units where it can; tests start their own.
for svc in nginx postgresql haproxy caddy kamailio; do
	if [[ " ${missing[*]} " == *" $svc"* ]] && command -v systemctl >/dev/null 2>&1; then
		"${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done
