# The entry point people type. Meson + Ninja do the building; this file only
# installs what is missing and picks the build directory.
#   make        build/hearth (release)
#   make run    the whole tier on embedded defaults, data under ./var
#   make test   sanitizer build, unit + end-to-end tests, fuzz corpus replay
#   make bench  side-by-side benchmarks against the anchors (never part of test)
#   make fuzz   each libFuzzer target for FUZZ_SECONDS (clang build)
#   make format clang-format over src/ tests/ bench/

FUZZ_SECONDS ?= 60
SRC := $(shell git ls-files -co --exclude-standard -- src tests bench web 2>/dev/null | grep -E '\.(c|h)$$')

.PHONY: all run test bench fuzz format clean deps-build deps-test deps-bench deps-fuzz

all: deps-build build/build.ninja
	ninja -C build

# Release builds link with LTO: about 2 % more proxied requests a second (docs/proxy.md).
build/build.ninja:
	meson setup build --buildtype=release -Db_ndebug=if-release -Db_lto=true

build-asan/build.ninja:
	meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true -Dtests=true

build-bench/build.ninja:
	meson setup build-bench --buildtype=release -Db_ndebug=true -Db_lto=true -Dtests=true

build-fuzz/build.ninja:
	CC=clang meson setup build-fuzz --buildtype=debugoptimized -Db_lundef=false -Dfuzz=true -Dtests=true

deps-build deps-test deps-bench deps-fuzz: deps-%:
	@scripts/deps.sh $*

run: all
	build/hearth up

test: deps-test build-asan/build.ninja node_modules/.package-lock.json
	ninja -C build-asan
	python3 tests/run.py --build build-asan

# npm ci again whenever the lock file is newer than what it installed.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

bench: deps-bench build-bench/build.ninja
	ninja -C build-bench
	bench/run.sh

fuzz: deps-fuzz build-fuzz/build.ninja
	ninja -C build-fuzz
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $(SRC)

clean:
	rm -rf build build-asan build-bench build-fuzz
