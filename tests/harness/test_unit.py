"""Host unit tests: every build/unit/test_* (cmocka), tsan_* (ThreadSanitizer races) and
fuzz_* (libFuzzer, bounded time) binary that `make unit` builds, one pytest test each."""

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import eptvisor as ev

UNIT_DIR = Path(os.environ.get("EPTVISOR_UNIT_DIR") or ev.BUILD / "unit")
# A unit test that needs more than 2 minutes is a problem in itself (the suite has ~8 min).
UNIT_TIMEOUT = float(os.environ.get("EPTVISOR_UNIT_TIMEOUT", "120")) * ev.timeout_scale()
# ThreadSanitizer runs the race tests 5-15x slower, and in `make test` they share the two
# CPUs with the Bochs boots in the background (tsan_ept_race: ~60 s alone, ~3 min there).
TSAN_TIMEOUT = 3 * UNIT_TIMEOUT
FUZZ_SECONDS = int(os.environ.get("EPTVISOR_FUZZ_SECONDS", "10"))
CORPUS_SRC = ev.REPO / "tests" / "unit" / "corpus"


def _discover():
    """(build result, {kind: [paths]})"""
    b = ev.make("unit")
    found = {"test": [], "tsan": [], "fuzz": []}
    if UNIT_DIR.is_dir():
        for p in sorted(UNIT_DIR.iterdir()):
            if not (p.is_file() and os.access(p, os.X_OK)) or p.suffix in (".o", ".d", ".a"):
                continue
            for kind in found:
                if p.name.startswith(kind + "_"):
                    found[kind].append(p)
    return b, found


def pytest_generate_tests(metafunc):
    if "unit_bin" not in metafunc.fixturenames:
        return
    kind = metafunc.function.__name__.split("_")[1]  # test_cmocka / test_tsan / test_fuzz
    kind = {"cmocka": "test"}.get(kind, kind)
    b, found = _discover()
    params = []
    if not b.ok:
        params.append(pytest.param(("build-failed", b), id="make-unit-failed"))
    else:
        params += [pytest.param(p, id=p.name) for p in found[kind]]
        if not params and kind == "test":
            params.append(pytest.param(("none-found", b), id="no-unit-tests"))
        if not params:
            params.append(pytest.param(None, id="none",
                                       marks=pytest.mark.skip("no build/unit/%s_* binaries"
                                                              % kind)))
    metafunc.parametrize("unit_bin", params)


def _check_build(unit_bin):
    if isinstance(unit_bin, tuple):
        what, b = unit_bin
        if what == "build-failed":
            pytest.fail("`%s` failed:\n%s" % (" ".join(b.cmd), b.output[-6000:]), pytrace=False)
        pytest.fail("`make unit` built no build/unit/test_* binary (tests/unit/*.mk list "
                    "UNIT_TESTS). make output:\n%s" % b.output[-3000:], pytrace=False)


def _run(cmd, timeout, env=None):
    e = dict(os.environ)
    e.setdefault("CMOCKA_MESSAGE_OUTPUT", "stdout")
    e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    e.update(env or {})
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                           errors="replace", timeout=timeout, env=e, cwd=str(ev.REPO))
        return p.returncode, p.stdout, False
    except subprocess.TimeoutExpired as t:
        out = t.stdout or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return None, out, True


def _tail(out, n=120):
    lines = out.splitlines()
    return "\n".join(lines[-n:])


SANITIZER_RE = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|"
                          r"SUMMARY: \w+Sanitizer|.*runtime error: )", re.M)


def _judge_cmocka(name, code, out, timed_out, limit=UNIT_TIMEOUT):
    p = []
    if timed_out:
        p.append("timed out after %.0f s" % limit)
    elif code != 0:
        p.append("exit status %s" % code)
    failed = [l for l in out.splitlines() if l.lstrip().startswith("[  FAILED  ]")]
    if failed:
        p.append("cmocka reports failures: %s" % failed[0].strip())
    if not timed_out and not re.search(r"^\[  PASSED  \]", out, re.M):
        p.append("no cmocka '[  PASSED  ]' line")
    san = SANITIZER_RE.findall(out)
    if san:
        p.append("sanitizer report: %s" % san[0][:200])
    if p:
        pytest.fail("%s: %s\n--- output (tail) ---\n%s" % (name, "; ".join(p), _tail(out)),
                    pytrace=False)


def test_cmocka(unit_bin):
    _check_build(unit_bin)
    code, out, to = _run([unit_bin], UNIT_TIMEOUT)
    _judge_cmocka(unit_bin.name, code, out, to)


def test_tsan(unit_bin):
    _check_build(unit_bin)
    env = {"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"}
    code, out, to = _run([unit_bin], TSAN_TIMEOUT, env)
    if "unexpected memory mapping" in out and shutil.which("setarch"):
        # TSan of older toolchains cannot cope with high ASLR entropy: run without ASLR.
        code, out, to = _run(["setarch", platform.machine(), "-R", unit_bin], TSAN_TIMEOUT, env)
    _judge_cmocka(unit_bin.name, code, out, to, TSAN_TIMEOUT)


def test_fuzz(unit_bin):
    _check_build(unit_bin)
    work = ev.RUNS / "fuzz" / unit_bin.name
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = CORPUS_SRC / unit_bin.name[len("fuzz_"):]
    if seeds.is_dir():
        for f in seeds.iterdir():
            if f.is_file():
                shutil.copyfile(f, corpus / f.name)
    cmd = [unit_bin, "-max_total_time=%d" % FUZZ_SECONDS, "-artifact_prefix=%s/" % work,
           "-print_final_stats=1", str(corpus)]
    code, out, to = _run(cmd, FUZZ_SECONDS * 3 + 60)
    p = []
    if to:
        p.append("did not stop after -max_total_time=%d" % FUZZ_SECONDS)
    elif code != 0:
        p.append("exit status %s (a crash, a sanitizer report or a leak)" % code)
    crash = re.findall(r"^(==\d+== ?ERROR: .*|.*deadly signal.*|Test unit written to .*)$",
                       out, re.M)
    if crash:
        p.append("; ".join(c.strip() for c in crash[:3]))
    if not to and not re.search(r"^(Done \d+ runs|stat::number_of_executed_units)", out, re.M):
        p.append("no libFuzzer 'Done N runs' line: did it fuzz at all?")
    if p:
        pytest.fail("%s: %s\n--- output (tail) ---\n%s" % (unit_bin.name, "; ".join(p),
                                                            _tail(out, 80)), pytrace=False)
