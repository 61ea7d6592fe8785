"""Boot tests: what needs no VMX runs on QEMU TCG (fast); VMXON on every CPU runs on Bochs."""

import re

import pytest

from eptvisor import BootSpec, json_platform_problems

TCG_SMP2 = BootSpec("boot-tcg-smp2", "run=demo", platform="qemu-tcg", cpus=2, timeout=60)
TCG_MB1 = BootSpec("boot-tcg-mb1", "run=none", platform="qemu-tcg-kernel", cpus=1, timeout=60)
BOCHS_SMP2 = BootSpec("boot-bochs-smp2", "run=none", platform="bochs", cpus=2, megs=512,
                      timeout=90)


def _require(res, probs, regex, what, count=None):
    hits = res.lines_matching(regex)
    if count is None and not hits:
        probs.append("missing %s (a line matching /%s/)" % (what, regex))
    elif count is not None and len(hits) != count:
        probs.append("expected exactly %d %s (lines matching /%s/), found %d: %s"
                     % (count, what, regex, len(hits), hits))
    return hits


@pytest.mark.parametrize("spec", [TCG_SMP2], ids=str)
def test_tcg_boot_smp2(spec, boots, judge):
    """QEMU TCG, -smp 2: banner, memory map, allocator, both CPUs online, one clear
    'vmx: unavailable:' line, clean shutdown."""
    res = boots.result(spec)
    p = []
    if res.timed_out:
        p.append("timed out")
    _require(res, p, r"^eptvisor: booting", "boot banner", count=1)
    _require(res, p, r"^boot: mem [0-9a-fx]+-[0-9a-fx]+ usable", "memory map line (usable RAM)")
    _require(res, p, r"^mm: .*\bfree\b", "frame allocator line")
    cpus = _require(res, p, r"^cpu \d+: online", "'cpu N: online' lines", count=2)
    ids = sorted(int(re.match(r"^cpu (\d+)", l).group(1)) for l in cpus)
    if len(cpus) == 2 and ids != [0, 1]:
        p.append("expected cpu 0 and cpu 1 online, got %s" % ids)
    un = _require(res, p, r"^vmx: unavailable:", "'vmx: unavailable:' line", count=1)
    if un and len(un[0].split(":", 2)[-1].strip()) < 5:
        p.append("the 'vmx: unavailable:' line gives no reason: %r" % un[0])
    if res.lines_matching(r"VMXON ok"):
        p.append("'VMXON ok' under TCG, which has no VMX: %s" % res.lines_matching("VMXON ok"))
    for l in res.panics():
        p.append("panic: %s" % l)
    p += ["TAP failure: %s" % (t,) for t in res.not_ok()]
    p += json_platform_problems(res)
    _require(res, p, r"^eptvisor: shutdown$", "'eptvisor: shutdown' line", count=1)
    judge(res, p)


@pytest.mark.parametrize("spec", [TCG_MB1], ids=str)
def test_tcg_multiboot1_kernel_bin(spec, boots, judge):
    """qemu -kernel build/eptvisor.bin (multiboot1 a.out kludge) boots and prints the banner."""
    res = boots.result(spec)
    p = []
    if res.timed_out:
        p.append("timed out")
    _require(res, p, r"^eptvisor: booting", "boot banner", count=1)
    _require(res, p, r"^cpu 0: online", "'cpu 0: online' line")
    for l in res.panics():
        p.append("panic: %s" % l)
    _require(res, p, r"^eptvisor: shutdown$", "'eptvisor: shutdown' line", count=1)
    judge(res, p)


@pytest.mark.parametrize("spec", [BOCHS_SMP2], ids=str)
def test_bochs_vmxon_every_cpu(spec, boots, judge):
    """Bochs (tigerlake, 2 CPUs), run=none: VMXON on both CPUs, the capability summary, and a
    summary line with 0 failed."""
    res = boots.result(spec)
    p = res.problems()
    _require(res, p, r"^cpu \d+: online", "'cpu N: online' lines", count=2)
    _require(res, p, r"^vmx: cpu 0: VMXON ok", "'vmx: cpu 0: VMXON ok'", count=1)
    _require(res, p, r"^vmx: cpu 1: VMXON ok", "'vmx: cpu 1: VMXON ok'", count=1)
    _require(res, p, r"^vmx: capabilities", "VMX capability summary")
    _require(res, p, r"^vmx:\s+EPT\b", "EPT capability line")
    if res.lines_matching(r"^vmx: unavailable"):
        p.append("Bochs tigerlake has VMX+EPT, but: %s" % res.lines_matching(r"^vmx: unavailable"))
    p += json_platform_problems(res)
    judge(res, p)
