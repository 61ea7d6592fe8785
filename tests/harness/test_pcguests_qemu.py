"""The PC guest kernels under plain QEMU TCG, the reference eptvisor's PC platform must match.

`make pcguests` once, then every PC_GUESTS entry boots (four at a time, so the runaway kernels'
timeouts overlap) and is judged against its recorded QEMU behaviour.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

import eptvisor as ev
from pcguests import PC_GUESTS, guest_lines, problems, run_guest


@pytest.fixture(scope="module")
def built():
    r = ev.make("pcguests")
    if not r.ok:
        pytest.fail("`%s` failed:\n%s" % (" ".join(r.cmd), r.output[-6000:]), pytrace=False)
    return True


@pytest.fixture(scope="module")
def runs(built):
    """Every PC_GUESTS entry, started at once: name -> future of a QemuRun."""
    ex = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pcguest")
    futures = {name: ex.submit(run_guest, g) for name, g in PC_GUESTS.items()}
    yield futures
    ex.shutdown(wait=True)


def _report(run, why):
    return "%s\ncommand: %s\nQEMU status: %s (%.1f s)\nQEMU said: %s\nserial (%s):\n%s" % (
        "\n".join(why), " ".join(run.cmd), run.status, run.duration, run.stderr.strip() or "-",
        run.serial_path, "\n".join(run.lines[-60:]) or "(nothing)")


@pytest.mark.parametrize("name", list(PC_GUESTS), ids=str)
def test_pc_guest_under_qemu(name, runs):
    """Each kernel prints its expected lines, in order, and QEMU ends as recorded."""
    run = runs[name].result()
    why = problems(PC_GUESTS[name], run.lines, run.status)
    if why:
        pytest.fail(_report(run, why), pytrace=False)


def test_bad_header_refused_by_qemu(runs):
    """QEMU does not run a kernel whose multiboot checksum is wrong: nothing on the serial
    port and an error on stderr."""
    run = runs["bad_header"].result()
    if run.lines or "Error loading" not in run.stderr:
        pytest.fail(_report(run, ["expected no serial output and a loader error"]),
                    pytrace=False)


def test_pcmb2_matches_pcmb1(runs):
    """GRUB's multiboot 2 info (cmdline, meminfo, mmap) says what QEMU's multiboot 1 info says:
    the two transcripts differ only in the kernel's name."""
    one = [l.replace("pcmb1", "pcmbN").replace("multiboot 1", "multiboot N")
           for l in guest_lines(runs["pcmb1"].result().lines)]
    two = [l.replace("pcmb2", "pcmbN").replace("multiboot 2", "multiboot N")
           for l in guest_lines(runs["pcmb2"].result().lines)]
    assert one == two
