#!/usr/bin/env bash
# Runs each libFuzzer target (built with -Dfuzz=true) for SECONDS, starting from its
# committed corpus; new inputs land in a scratch corpus, crashes in build dir artifacts.
set -euo pipefail
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS}
secs=${2:-60}
cd "$(dirname "$0")/../.."
for corpus in tests/fuzz/corpus/*/; do
	name=$(basename "$corpus")
	scratch="$build/fuzz-corpus/$name"
	mkdir -p "$scratch" "$build/fuzz-artifacts"
	echo "== fuzz_$name for ${secs}s"
	"$build/tests/fuzz_$name" -max_total_time="$secs" -artifact_prefix="$build/fuzz-artifacts/" \
		"$scratch" "$corpus"
done
