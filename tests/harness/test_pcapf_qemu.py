"""pcapf.elf and pcapf_hostile.elf (guests/pc/, issue 15) under plain QEMU TCG: no KVM leaf, so
async page faults stay off and the kernel must pass without them; apf=sim runs the kernel's
own block / wake path on faults it simulates itself; the hostile kernel refuses to run.

Lines and exit codes as documented at the top of guests/pc/pcapf.c and pcapf_hostile.c.
"""

import json

import pytest

import eptvisor as ev
from pcguests import BUILD_PC, exit_status, run_qemu_ex

BUF = "buf=0x4000000"
EXIT_MISMATCH, EXIT_ARGS, EXIT_NO_KVM = 0x70, 0x72, 0x75  # include/pcapf.h


@pytest.fixture(scope="module")
def built():
    r = ev.make("pcguests")
    if not r.ok:
        pytest.fail("`%s` failed:\n%s" % (" ".join(r.cmd), r.output[-6000:]), pytrace=False)
    return True


def _run(kernel, args, cpus=1):
    run = run_qemu_ex(BUILD_PC / kernel, args, cpus=cpus, timeout=60)
    lines = [l for l in run.lines if l.startswith(("pcapf:", "apf-hostile:", "FAIL", "EXC"))]
    return run, lines


def _json(lines):
    js = [l for l in lines if l.startswith("pcapf: @json {\"walk_tsc\"")]
    assert len(js) == 1, lines
    return json.loads(js[0][len("pcapf: @json "):])


@pytest.mark.parametrize("walkers", [1, 3])
def test_pcapf_passes_without_async(built, walkers):
    """No KVM leaf: async off, every pass verified, exit code 0. The walk (4 MiB, 3 passes)
    lasts many 1 ms slices, so the compute task gets some of them."""
    run, lines = _run("pcapf.elf", "%s pages=1024 passes=3 walkers=%d" % (BUF, walkers))
    assert lines[:3] == ["pcapf: buf 0x4000000 pages 1024 passes 3 walkers %d" % walkers,
                         "pcapf: async pf: off (no KVM leaf)", "pcapf: pass 0 written"], lines
    assert lines[3:5] == ["pcapf: pass 1 verified", "pcapf: pass 2 verified"], lines
    assert lines[-1] == "pcapf: PASS" and run.status == exit_status(0), (lines, run.status)
    j = _json(lines)
    assert (j["async"], j["not_present"], j["ready"], j["real_pf"]) == (0, 0, 0, 0), j
    assert (j["pages"], j["passes"], j["walkers"]) == (1024, 3, walkers), j
    assert j["walk_tsc"] > 0 and j["compute_steps"] > 0, j


def test_pcapf_two_cpus(built):
    """cpus=2: walkers 0 and 2 on the BSP, 1 on the AP, a compute task on each; all verify."""
    run, lines = _run("pcapf.elf", "%s pages=1024 passes=2 walkers=3 cpus=2" % BUF, cpus=2)
    assert lines[0] == "pcapf: buf 0x4000000 pages 1024 passes 2 walkers 3 cpus 2", lines
    assert "pcapf: pass 1 verified" in lines, lines
    assert lines[-1] == "pcapf: PASS" and run.status == exit_status(0), (lines, run.status)
    j = _json(lines)
    assert (j["cpus"], j["walkers"], j["async"]) == (2, 3, 0) and j["compute_steps"] > 0, j


@pytest.mark.parametrize("walkers", [1, 4])
def test_pcapf_simulated_async(built, walkers):
    """apf=sim: each page's first touch blocks its walker on a token until the simulated
    page-ready; the compute task runs meanwhile; the data still verifies."""
    run, lines = _run("pcapf.elf", "%s pages=64 passes=2 walkers=%d apf=sim" % (BUF, walkers))
    assert "pcapf: async pf: simulated (apf=sim)" in lines, lines
    assert lines[-1] == "pcapf: PASS" and run.status == exit_status(0), (lines, run.status)
    j = _json(lines)
    assert (j["async"], j["not_present"], j["ready"], j["early"]) == (2, 64, 64, 0), j
    assert j["compute_steps"] > 0, j


def test_pcapf_mismatch_reported(built):
    """prefilled=1 on RAM that holds zeroes: pass 0 reports the lowest bad word, exit 0x70."""
    run, lines = _run("pcapf.elf", "%s pages=16 passes=2 prefilled=1" % BUF)
    want = 0x4000000 * 0x9e3779b97f4a7c15 % 2**64
    assert "pcapf: pass 0 MISMATCH at 0x4000000 got 0x0 want 0x%x" % want in lines, lines
    assert "pcapf: pass 1 verified" in lines and lines[-1] == "pcapf: FAIL", lines
    assert run.status == exit_status(EXIT_MISMATCH), run.status


def test_pcapf_bad_args(built):
    run, lines = _run("pcapf.elf", "pages=16 passes=2")
    assert lines and lines[0].startswith("pcapf: bad arguments"), lines
    assert run.status == exit_status(EXIT_ARGS), run.status


def test_hostile_needs_kvm_leaf(built):
    run, lines = _run("pcapf_hostile.elf", "%s pages=64" % BUF)
    assert lines == ["apf-hostile: buf 0x4000000 pages 64 ram end 0x8000000",
                     "apf-hostile: no KVM leaf with async pf"], lines
    assert run.status == exit_status(EXIT_NO_KVM), run.status
