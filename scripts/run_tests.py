"""Run the whole test suite: once per Keras backend, plus the
backend-independent tests once, then print one summary.

Used by `make test` (the README's test command) and so by `.ci/run`.
Lint (`ruff check` and `ruff format --check`, ruff pinned in
constraints/ci.txt) runs first; a lint failure fails the run too.
Exits non-zero when any run fails or collects no test.

    python scripts/run_tests.py [--fast] [extra pytest args]

`--fast` (`make test-fast`, for day-to-day work) runs the
backend-independent tests and the JAX pass only, without the tests marked
`slow` or `distributed`; CI runs everything.

Each pass runs its tests in `WORKERS` pytest-xdist processes (one per
core by default, `CLINCLIP_TEST_WORKERS` to change it; files stay whole on
one worker so module fixtures are built once), then its `distributed`
tests alone, one at a time: those start several processes of their own.
"""

import os
import pathlib
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORTS = ROOT / ".test-reports"

# (name, KERAS_BACKEND, pytest marker expression)
RUNS = [
    ("tensorflow", "tensorflow", "not backend_independent"),
    ("jax", "jax", "not backend_independent"),
    ("torch", "torch", "not backend_independent"),
    ("backend-independent", "tensorflow", "backend_independent"),
]


def _counts(junit_path):
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    if not junit_path.exists():
        return counts
    root = ET.parse(junit_path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0))
        errors = int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["errors"] += errors
        counts["skipped"] += skipped
        counts["passed"] += total - failed - errors - skipped
    return counts


def lint():
    """`ruff check` and `ruff format --check` on the tree (pinned ruff)."""
    print("\n=== lint (ruff) ===", flush=True)
    ruff = [sys.executable, "-m", "ruff"]
    start = time.time()
    codes = [
        subprocess.call([*ruff, "check", "."], cwd=ROOT),
        subprocess.call([*ruff, "format", "--check", "."], cwd=ROOT),
    ]
    return max(codes), time.time() - start


# Worker processes per pass: most of a test's time here is one Python
# thread (imports, tracing, XLA compiles, small CPU ops), so two workers
# on two cores finish sooner than one.
WORKERS = int(os.environ.get("CLINCLIP_TEST_WORKERS") or os.cpu_count() or 1)

# `--fast`: these runs, without these marks.
FAST_RUNS = ("jax", "backend-independent")
FAST_SKIPS = "not slow and not distributed"


def main(argv):
    REPORTS.mkdir(exist_ok=True)
    fast = "--fast" in argv
    argv = [a for a in argv if a != "--fast"]
    lint_code, lint_seconds = lint()
    only = os.environ.get("CLINCLIP_BACKENDS")
    runs = [r for r in RUNS if not only or r[0] in only.split(",")]
    if fast:
        runs = [
            (name, backend, f"({marker}) and {FAST_SKIPS}")
            for name, backend, marker in runs
            if name in FAST_RUNS
        ]
    results = []
    for name, backend, marker in runs:
        env = dict(os.environ, KERAS_BACKEND=backend)
        print(f"\n=== {name} (KERAS_BACKEND={backend}) ===", flush=True)
        start = time.time()
        code, counts = 0, {}
        # CI keeps each file on one worker (module fixtures built once, the
        # order of a file's tests as written); `--fast` lets an idle worker
        # take tests from a busy one (shorter, as a long file no longer
        # sets the pace).
        dist = "worksteal" if fast else "loadfile"
        parts = [("", f"({marker}) and not distributed", WORKERS)]
        if not fast:  # `--fast` leaves the distributed tests out
            parts.append(("-distributed", f"({marker}) and distributed", 1))
        for part, expression, workers in parts:
            junit = REPORTS / f"{name}{part}.xml"
            junit.unlink(missing_ok=True)
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                expression,
                f"--junitxml={junit}",
                "-p",
                "no:cacheprovider",
                *(["-n", str(workers), "--dist", dist] * (workers > 1)),
                *argv,
            ]
            part_code = subprocess.call(command, cwd=ROOT, env=env)
            # 5: nothing selected (a pass without distributed tests).
            code = max(code, 0 if part_code == 5 else part_code)
            for key, value in _counts(junit).items():
                counts[key] = counts.get(key, 0) + value
        results.append((name, code, counts, time.time() - start))

    print("\n=== summary ===")
    print(
        f"{'run':<22}{'passed':>8}{'failed':>8}{'errors':>8}"
        f"{'skipped':>9}{'seconds':>9}  status"
    )
    ok = True
    total_passed = total_failed = total_skipped = 0
    for name, code, c, seconds in results:
        good = code == 0 and c["passed"] > 0
        ok &= good
        total_passed += c["passed"]
        total_failed += c["failed"] + c["errors"]
        total_skipped += c["skipped"]
        status = "ok" if good else f"FAILED (pytest exit {code})"
        print(
            f"{name:<22}{c['passed']:>8}{c['failed']:>8}{c['errors']:>8}"
            f"{c['skipped']:>9}{seconds:>9.0f}  {status}"
        )
    lint_status = "ok" if lint_code == 0 else "FAILED (ruff)"
    ok &= lint_code == 0
    print(
        f"{'lint':<22}{'':>8}{'':>8}{'':>8}{'':>9}{lint_seconds:>9.0f}"
        f"  {lint_status}"
    )
    line = f"{total_passed} passed, {total_failed} failed"
    if total_skipped:
        line += f", {total_skipped} skipped"
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
