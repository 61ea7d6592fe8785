"""Hostile guests against the interrupt paths (issue 11, items 1, 2, 5, 12 and the INIT, SIPI
and NMI storms, a PIT storm): guests/pc/irqattack.elf, one attack per scenario (attack=NAME), all in one
Bochs boot on two CPUs. Each attack must leave the hypervisor running (every later scenario
runs, the summary line and `eptvisor: shutdown` are printed) and give the attacking kernel
what a CPU would (it prints what it saw and "irqattack: PASS"), or stop it by name.

Before the fixes these hung the whole hypervisor (init_cycle: two CPUs each waiting in root
mode for the other to take its INIT; timer_storm and timer_cli: a preemption timer armed
with 0 at every entry) or stalled for a full 2^32-tick timer slice (nmi_then_ipi, nmi_twice:
NMI blocking that only a VM exit cleared), so the boot ran into its timeout.
"""

import pytest

import registry
from eptvisor import BootSpec
from test_pcguests import expect_passed, vm_exit, vm_lines

ATTACKS = {
    # scenario: (lines the guest must print, exit code, or None when it is stopped by name)
    "hostile_init_storm": (["init_storm: the AP restarted 200 times after INIT-SIPI"], 0),
    "hostile_sipi_storm": (["sipi_storm: the running AP ignored 10000 SIPIs"], 0),
    "hostile_nmi_twice": (["nmi_twice: 2 self-NMIs delivered"], 0),
    "hostile_nmi_then_ipi": (["nmi_then_ipi: fixed IPI sent to the AP spinning with IF=0",
                              "nmi_then_ipi: the AP took 2 NMIs"], 0),
    "hostile_nmi_storm": (["nmi_storm: 10000 NMIs sent, the AP took at least one and at most "
                           "10000"], 0),
    "hostile_timer_storm": (["timer_storm: work done with a count-1 periodic timer running, "
                             "ticks > 0"], 0),
    "hostile_smi_storm": (["smi_storm: 2000 SMI IPIs sent"], 0),
    "hostile_pit_storm": (["pit_storm: work done with the PIT at count 2, ticks > 0"], 0),
    "hostile_ioapic_storm": (["ioapic_storm: work done with the PIT at count 2 through the "
                              "I/O APIC, ticks > 0"], 0),
    "hostile_ioapic_modes": (["ioapic_modes: the PIT routed as SMI, modes 3 and 6, ExtINT: no "
                              "interrupt"], 0),
    "hostile_init_cycle": (["init_cycle: AP up, both CPUs now INIT each other"], None),
    "hostile_init_broadcast": (["init_broadcast: AP up, both CPUs now INIT each other"], None),
    "hostile_timer_cli_stopped": (["timer_cli: count-1 periodic timer armed, spinning with "
                                   "interrupts off"], None),
}
# Every attack, then (last in the table) an ordinary kernel that must still run to its end.
ORDER = sorted(ATTACKS) + ["hostile_aftermath"]
MODULES = registry.modules(ORDER)
IRQ = BootSpec("hostile-irq", "run=" + ",".join(ORDER), cpus=2, megs=512, timeout=600,
               label="hostile-irq", modules=MODULES)


@pytest.mark.boot(IRQ)
@pytest.mark.parametrize("vm", sorted(ATTACKS))
def test_attack_gets_architectural_behaviour(boots, judge, vm):
    """The attacking kernel printed what a CPU would have shown it, and ended as expected."""
    res = boots.result(IRQ)
    p = res.problems()
    want, code = ATTACKS[vm]
    got = vm_lines(res, vm)
    for line in want:
        if line not in got:
            p.append("%s did not print %r (it printed %s)" % (vm, line, got[-6:]))
    if code is not None:
        if "irqattack: PASS" not in got:
            p.append("%s did not print 'irqattack: PASS'" % vm)
        ended = vm_exit(res, vm)
        if ended is None or ended[0] != code:
            p.append("%s: exit %s, expected code %d" % (vm, ended, code))
    expect_passed(res, vm, p)
    judge(res, p)


@pytest.mark.boot(IRQ)
def test_stops_are_named(boots, judge):
    """An INIT cycle or two crossing all-but-self INIT broadcasts end in a stop naming the
    BSP's INIT (QEMU hangs silently), a count-1
    timer with interrupts off is a runaway whose budget runs out."""
    res = boots.result(IRQ)
    p = res.problems()
    for vm in ("hostile_init_cycle", "hostile_init_broadcast"):
        if not res.lines_matching(r"^pc: VM '%s': guest did not exit by itself: "
                                  r"vcpu 0 \(the BSP\) received INIT" % vm):
            p.append("no named stop for %s" % vm)
    if not res.lines_matching(r"^pc: VM 'hostile_timer_cli_stopped': guest did not exit by "
                              r"itself: vcpu 0: runaway: used its budget"):
        p.append("the count-1 timer with interrupts off was not stopped as a runaway")
    judge(res, p)


@pytest.mark.boot(IRQ)
def test_hypervisor_goes_on(boots, judge):
    """After every attack the hypervisor still runs an ordinary kernel to its end."""
    res = boots.result(IRQ)
    p = res.problems()
    expect_passed(res, "hostile_aftermath", p)
    if "pcmb1: PASS" not in vm_lines(res, "hostile_aftermath"):
        p.append("pcmb1 did not pass after the attacks")
    names = [t.name for t in res.tap()]
    if not names or names[-1] != "hostile_aftermath" or len(names) != len(ORDER):
        p.append("not every attack ran before the ordinary kernel: %s" % names)
    judge(res, p)


@pytest.mark.boot(IRQ)
def test_guest_messages_are_capped(boots, judge):
    """2000 SMI IPIs give a bounded number of log lines, not 2000."""
    res = boots.result(IRQ)
    p = res.problems()
    n = len(res.lines_matching(r"^pc: VM 'hostile_smi_storm': .*delivery mode 2"))
    if not 1 <= n <= 17:
        p.append("%d log lines for 2000 SMI IPIs (want between 1 and 17)" % n)
    judge(res, p)


@pytest.mark.boot(IRQ)
def test_ioapic_modes_dropped_and_capped(boots, judge):
    """I/O APIC messages in modes eptvisor does not deliver (SMI, reserved, ExtINT) are dropped
    with a bounded number of log lines naming the pin and the mode."""
    res = boots.result(IRQ)
    p = res.problems()
    lines = res.lines_matching(r"^pc: VM 'hostile_ioapic_modes': I/O APIC pin 2: delivery mode")
    if not 1 <= len(lines) <= 16:
        p.append("%d log lines for the dropped I/O APIC messages (want 1 to 16)" % len(lines))
    judge(res, p)
