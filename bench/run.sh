#!/usr/bin/env bash
# Runs every benchmark under bench/ (each prints its own table with the anchor's
# figures from the same run). Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for b in bench/*/run.sh; do
	echo "== ${b%/run.sh}"
	"$b" || status=1
done
exit $status
