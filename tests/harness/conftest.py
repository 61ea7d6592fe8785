"""pytest glue for the eptvisor rig.

Fixtures:
  kernel    (session) runs `make kernel` once; fails every boot test with the build output if
            the build fails.
  boots     (session) a pool of 2 workers that boots every BootSpec the selected tests use, in
            test order, as soon as the kernel is built, so independent emulator runs overlap.
            A test asks for its result with boots.result(spec).
  vmx_platform / tcg / bochs: platform objects.

The last line pytest prints is the plain `N passed, N failed[, N skipped]` line, counted from
pytest's own results (see pytest_terminal_summary / pytest_unconfigure below).
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eptvisor as ev  # noqa: E402
from eptvisor import BootSpec  # noqa: E402

POOL_WORKERS = int(os.environ.get("EPTVISOR_JOBS", "2"))


class BootPool:
    def __init__(self, workers=POOL_WORKERS):
        self._ex = ThreadPoolExecutor(max_workers=max(1, workers),
                                      thread_name_prefix="eptvisor-boot")
        self._futures = {}
        self._lock = threading.Lock()

    def submit(self, spec):
        with self._lock:
            f = self._futures.get(spec.key)
            if f is None:
                f = self._ex.submit(spec.boot)
                self._futures[spec.key] = f
            return f

    def result(self, spec):
        return self.submit(spec).result()

    def shutdown(self):
        for f in self._futures.values():
            f.cancel()
        if not all(f.done() for f in self._futures.values()):
            ev.abort_all()  # interrupted session: stop the emulators still running
        self._ex.shutdown(wait=True)


_pool = None


def _start_pool(session):
    """Submit every boot the selected tests use, longest timeout first (so the long Bochs
    scenarios start at once and the short boots fill the other worker)."""
    global _pool
    if _pool is None:
        _pool = BootPool()
        specs, seen = [], set()
        for item in session.items:
            for spec in _specs_of(item):
                if spec.key not in seen:
                    seen.add(spec.key)
                    specs.append(spec)
        for spec in sorted(specs, key=lambda s: -s.timeout):
            _pool.submit(spec)
    return _pool


def _specs_of(item):
    out = []
    for m in item.iter_markers("boot"):
        out += [a for a in m.args if isinstance(a, BootSpec)]
    cs = getattr(item, "callspec", None)
    if cs is not None:
        out += [v for v in cs.params.values() if isinstance(v, BootSpec)]
    return out



_kernel_failure_shown = []


@pytest.fixture
def kernel():
    """`make kernel`, run once per session (ev.make caches). A failed build fails every test
    that needs the kernel: the first with the compiler output, the others briefly."""
    r = ev.make("kernel")
    if not r.ok:
        log = ev.BUILD / "make-kernel.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(r.output)
        except OSError:
            pass
        if _kernel_failure_shown:
            pytest.fail("`make kernel` failed (output: first error above, and %s)" % log,
                        pytrace=False)
        _kernel_failure_shown.append(1)
        pytest.fail("`%s` failed:\n%s" % (" ".join(r.cmd), r.output[-6000:]), pytrace=False)
    if not ev.ELF.exists():
        pytest.fail("%s is missing%s" % (ev.ELF, " (EPTVISOR_NO_BUILD is set)" if ev.no_build()
                                         else " after a successful `make kernel`"),
                    pytrace=False)
    return ev.ELF


@pytest.fixture(scope="session", autouse=True)
def _boot_ahead(request):
    """As the session starts, build the kernel and start every boot in the background, so
    host unit tests and emulator runs overlap. Never fails: `kernel` reports build errors."""
    if any(_specs_of(i) for i in request.session.items):
        if ev.make("kernel").ok and ev.ELF.exists():
            _start_pool(request.session)
    yield
    if _pool is not None:
        _pool.shutdown()


@pytest.fixture
def boots(request, kernel):
    """Pool that boots, EPTVISOR_JOBS (2) at a time, every BootSpec the selected tests use."""
    return _start_pool(request.session)


@pytest.fixture
def vmx_platform(kernel):
    return ev.best_vmx_platform()


@pytest.fixture(scope="session")
def tcg():
    return ev.QemuTcg()


@pytest.fixture(scope="session")
def bochs():
    return ev.Bochs()


@pytest.fixture
def judge(record_property):
    """judge(result, problems): record the platform and fail with the serial tail (and the
    Bochs VMX failure lines) if PROBLEMS is not empty."""

    def _judge(res, problems):
        record_property("platform", res.platform)
        record_property("serial_log", str(res.log_path))
        if problems:
            pytest.fail("[platform %s] %d problem(s):\n%s" % (
                res.platform, len(problems), res.failure_report(why=problems)), pytrace=False)
    return _judge


# ---- the final plain summary line ---------------------------------------------------------
_counts = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    st = terminalreporter.stats
    passed = len(st.get("passed", [])) + len(st.get("xpassed", []))
    failed = len(st.get("failed", [])) + len(st.get("error", []))
    skipped = len(st.get("skipped", [])) + len(st.get("xfailed", []))
    _counts["line"] = "%d passed, %d failed" % (passed, failed) + \
        (", %d skipped" % skipped if skipped else "")


def pytest_unconfigure(config):
    # pytest prints its own "=== N passed in Xs ===" after pytest_terminal_summary, so the
    # plain line goes out here, the very last thing written.
    line = _counts.get("line")
    if line is None:
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(line)
    else:
        print(line)
