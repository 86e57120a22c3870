"""Run the whole test suite: once per Keras backend, plus the
backend-independent tests once, then print one summary.

Used by `make test` (the README's test command) and so by `.ci/run`.
Lint (`ruff check` and `ruff format --check`, ruff pinned in
constraints/ci.txt) runs first; a lint failure fails the run too.
Exits non-zero when any run fails or collects no test.

    python scripts/run_tests.py [extra pytest args]

The passes run one after the other (`CLINCLIP_TEST_JOBS=1`, the default).
`CLINCLIP_TEST_JOBS=2` runs them in two lanes at once (JAX in one;
TensorFlow, PyTorch and the backend-independent tests in the other), for
machines with cores to spare: on 2 cores the lanes only slowed each other
down (the JAX pass took 34 min instead of 15). Each pass's output goes to
`.test-reports/<pass>.log` and is printed whole when the pass ends.
"""

import os
import pathlib
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORTS = ROOT / ".test-reports"

# (name, KERAS_BACKEND, pytest marker expression)
RUNS = [
    ("jax", "jax", "not backend_independent"),
    ("tensorflow", "tensorflow", "not backend_independent"),
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


def _run_pass(name, backend, marker, argv, printing):
    """One pytest pass; its output is printed whole when it ends."""
    junit = REPORTS / f"{name}.xml"
    log = REPORTS / f"{name}.log"
    junit.unlink(missing_ok=True)
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        marker,
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        *argv,
    ]
    with printing:
        print(f"=== {name} (KERAS_BACKEND={backend}): started", flush=True)
    start = time.time()
    with open(log, "w") as out:
        code = subprocess.call(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    seconds = time.time() - start
    with printing:
        print(f"\n=== {name} (KERAS_BACKEND={backend}) ===", flush=True)
        print(log.read_text(errors="replace"), flush=True)
    return name, code, _counts(junit), seconds


def main(argv):
    REPORTS.mkdir(exist_ok=True)
    lint_code, lint_seconds = lint()
    only = os.environ.get("CLINCLIP_BACKENDS")
    runs = [r for r in RUNS if not only or r[0] in only.split(",")]
    jobs = max(1, int(os.environ.get("CLINCLIP_TEST_JOBS", "1")))
    lanes = [runs[:1], runs[1:]] if jobs > 1 and len(runs) > 1 else [runs]
    results = {}
    printing = threading.Lock()

    def lane(passes):
        for name, backend, marker in passes:
            results[name] = _run_pass(name, backend, marker, argv, printing)

    threads = [threading.Thread(target=lane, args=(p,)) for p in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [results[name] for name, _, _ in runs]

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
