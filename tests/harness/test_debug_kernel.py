"""The debug kernel (`make kernel DEBUG=1`, build/debug/eptvisor.elf): the assertions of
include/kassert.h compiled in. It boots once under Bochs and runs the scenarios that drive
the EPT hardest in little time (the demo; write-protect dirty logging, whose fault fast path
and harvests pass every lock, walker and entry assertion of ept/; live split, collapse and
migration; a slot over a slow store, fetched and evicted live, with its vCPU halted in the
hypervisor, and the same slot under the reclaim policy's resident limit), and in a second
boot of three CPUs the APIC pages moved under a two-vCPU PC guest, where the free paths
assert that no VMCS names what they free. A broken invariant panics the run (PANIC at
file:line: ASSERT(...)); a WARN_ON prints a `WARN at` line, which fails it too."""

import subprocess

import pytest

import eptvisor as ev
import registry
from eptvisor import BootSpec

DEBUG_DIR = ev.BUILD / "debug"
DEBUG_ELF = DEBUG_DIR / "eptvisor.elf"
SCENARIOS = ["demo", "dirty_log_wp", "split_collapse_live", "store_evict", "store_reclaim"]
# Two vCPUs and a host task need three CPUs: a boot of its own.
APIC_SCENARIOS = ["pc_apic_moves"]


class DebugBootSpec(BootSpec):
    """A BootSpec that boots the debug kernel, building it first (once per session)."""

    def boot(self):
        r = ev.make("kernel", "DEBUG=1")
        if not r.ok:
            raise RuntimeError("`%s` failed:\n%s" % (" ".join(r.cmd), r.output[-6000:]))
        if self.modules and not ev.make("pcguests").ok:
            raise RuntimeError("`make pcguests` failed")
        return ev.boot(self.platform_object(), self.cmdline, self.name, cpus=self.cpus,
                       megs=self.megs, timeout=self.timeout, elf=DEBUG_ELF,
                       modules=self.modules)


DEBUG_BOOT = DebugBootSpec("debug-kernel", "run=" + ",".join(SCENARIOS), platform="bochs",
                           cpus=2, megs=512, timeout=120, label="debug")
DEBUG_APIC = DebugBootSpec("debug-apic-moves", "run=" + ",".join(APIC_SCENARIOS),
                           platform="bochs", cpus=3, megs=512, timeout=180, label="debug-apic",
                           modules=registry.modules("pc_moves"))


@pytest.mark.parametrize("spec", [DEBUG_BOOT, DEBUG_APIC], ids=str)
def test_debug_kernel(spec, boots, judge):
    res = boots.result(spec)
    p = res.problems()
    syms = subprocess.run(["nm", str(DEBUG_ELF)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout
    if " assert_failed" not in syms:
        p.append("%s has no assert_failed: not built with DEBUG (assertions off)" % DEBUG_ELF)
    by_name = res.tap_by_name()
    for want in SCENARIOS if spec is DEBUG_BOOT else APIC_SCENARIOS:
        t = by_name.get(want)
        if t is None or not t.passed:
            p.append("scenario %s: %s" % (want, t or "no TAP line"))
    p += ["warning: %s" % l for l in res.lines_matching(r"^WARN at ")]
    p += ev.json_platform_problems(res)
    judge(res, p)
