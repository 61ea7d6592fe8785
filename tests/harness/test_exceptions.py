"""exc-test=on: the kernel executes int3 once, dumps registers, and goes on to shutdown."""

import pytest

from eptvisor import BootSpec

EXC = BootSpec("exc-test", "exc-test=on run=none", platform="qemu-tcg", cpus=1, timeout=60)


@pytest.mark.parametrize("spec", [EXC], ids=str)
def test_breakpoint_dump_and_continue(spec, boots, judge):
    res = boots.result(spec)
    lines = res.lines()
    p = []
    bp = [i for i, l in enumerate(lines) if "#BP" in l or "Breakpoint" in l]
    if not bp:
        p.append("no exception dump naming '#BP' or 'Breakpoint'")
    else:
        # the register dump follows (or is on) the line that names the exception
        if not any("RIP=" in l for l in lines[bp[0]:bp[0] + 30]):
            p.append("the #BP dump shows no 'RIP=' within 30 lines of %r" % lines[bp[0]])
    for l in res.panics():
        p.append("a breakpoint must not be a panic: %s" % l)
    if not res.reached_shutdown():
        p.append("the boot did not continue to 'eptvisor: shutdown' after the #BP")
    judge(res, p)
