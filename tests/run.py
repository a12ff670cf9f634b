#!/usr/bin/env python3
"""hearth's test runner: unit tests (cmocka), fuzz-corpus replay and end-to-end tests
against one build directory. Each program prints TAP; every `ok`/`not ok` line counts
as one test. A program that exits non-zero without a `not ok` line counts as one
failure. Ends with the line `N passed, N failed` and a non-zero status on any failure.

    python3 tests/run.py --build build-asan [--jobs 2] [FILTER...]
"""
import argparse
import concurrent.futures
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collect(build):
    """Returns [(name, argv, env, timeout)] for every test program of the build."""
    jobs = []
    for exe in sorted(glob.glob(os.path.join(build, "tests", "test_*"))):
        if os.access(exe, os.X_OK) and not exe.endswith((".p", ".py")) and os.path.isfile(exe):
            jobs.append(("unit/" + os.path.basename(exe)[5:], [exe],
                         {"CMOCKA_MESSAGE_OUTPUT": "TAP"}, 120))
    for corpus in sorted(glob.glob(os.path.join(ROOT, "tests", "fuzz", "corpus", "*"))):
        name = os.path.basename(corpus)
        exe = os.path.join(build, "tests", "fuzz_" + name)
        files = sorted(glob.glob(os.path.join(corpus, "*")))
        jobs.append(("fuzz/" + name, [exe] + files, {}, 300))
    for script in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "test_*.py"))):
        name = os.path.basename(script)[5:-3]
        jobs.append(("e2e/" + name, [sys.executable, script],
                     {"HEARTH_BUILD": os.path.relpath(build, ROOT)}, 900))
    return jobs


def run_one(job):
    name, argv, extra_env, timeout = job
    env = dict(os.environ)
    env.update(extra_env)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    start = time.monotonic()
    if not os.path.exists(argv[0]):
        return name, 0, 1, "missing program %s (not built?)" % argv[0], 0.0
    try:
        p = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        out, code = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out after %ds)" % timeout
        code = -1
    passed = failed = 0
    for line in out.splitlines():
        if line.startswith("ok "):
            passed += 1
        elif line.startswith("not ok "):
            failed += 1
    if code != 0 and failed == 0:
        failed = 1
    if code == 0 and passed == 0 and failed == 0:
        passed = 1
    return name, passed, failed, out, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-asan", help="build directory (default build-asan)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("HEARTH_TEST_JOBS", "2")))
    ap.add_argument("filters", nargs="*", help="run only tests whose name contains one of these")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)

    jobs = [j for j in collect(build) if not args.filters or any(f in j[0] for f in args.filters)]
    total_pass = total_fail = 0
    failures = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, passed, failed, out, secs in pool.map(run_one, jobs):
            total_pass += passed
            total_fail += failed
            mark = "FAIL" if failed else "ok  "
            print("%s %-28s %3d passed %3d failed  %6.1fs" % (mark, name, passed, failed, secs), flush=True)
            if failed:
                failures.append((name, out))
    for name, out in failures:
        lines = out.splitlines()
        print("\n---- %s (last %d lines) ----" % (name, min(len(lines), 80)))
        print("\n".join(lines[-80:]))
    print("\n%d programs in %.0fs" % (len(jobs), time.monotonic() - start))
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())
