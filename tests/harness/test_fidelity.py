"""Platform fidelity for kernels written for QEMU/KVM (issue 16, item 3): the fidelity group of
scenarios/registry.c under eptvisor (Bochs), each judged against its reference.

  - pc_kvm_hypercall (guests/pc/kvmhc.c): VMCALL follows KVM's hypercall ABI
    (Documentation/virt/kvm/x86/hypercalls.rst; kvm_emulate_hypercall): -KVM_ENOSYS (-1000)
    in RAX for unknown numbers and for hypercalls of features CPUID does not offer, 0 for
    KVM_HC_VAPIC_POLL_IRQ, the argument registers kept, RIP past the instruction; from
    compatibility mode the number is EAX and the result 32-bit; from CPL 3 every call gets
    -KVM_EPERM (-1); VMMCALL stays #UD. QEMU TCG has no hypercall ABI (VMCALL is #UD there: the kernel says so and
    exits 0x70), so the reference is KVM's source; the QEMU run checks the kernel's own
    fallback line.
  - pc_msrs (guests/pc/msrs.c): every MSR the guest's CPUID.7:EDX promises (SPEC_CTRL,
    ARCH_CAPABILITIES, CORE_CAPABILITIES) reads, PLATFORM_INFO / MISC_FEATURES_ENABLES /
    DEBUGCTL read as under QEMU TCG, writes get the documented answers (docs/platform.md,
    MSRs). QEMU 7.2 TCG raises #GP on no RDMSR at all, so elsewhere the reference is KVM's.
  - pc_mmio_ops (guests/pc/mmio_ops.c): ALU, TEST, XCHG, MOVZX/MOVSX and string forms on the
    APIC's TPR/SVR/ID/version and on unassigned memory print, line for line, what they print
    under QEMU TCG, but for the lines in SUBDWORD_APIC_READS (see there).
  - pc_platdev (guests/pc/platdev.c): COM1's THR-empty and data-ready interrupts, the RTC's
    periodic, update-ended and alarm interrupts, the 8042's answers and its IRQ 1 / IRQ 12,
    all through the 8259 PICs, and PCI configuration (the i440FX host bridge, empty slots)
    print QEMU TCG's lines, but for OUT2_GATING. pc_reset_cf9 and pc_reset_triple end the VM
    as a reset (QEMU -no-reboot exits with status 0 on both), pc_poweroff (every CPU in
    cli; hlt, an AP never started) is named a power-off (QEMU would hang: not run there).

Everything is judged from the serial log.
"""

import json
import re

import pytest

import eptvisor as ev
import registry
from eptvisor import BootSpec
from pcguests import BUILD_PC, run_qemu_ex

SCENARIOS = [s.name for s in registry.rows() if s.group == "fidelity"]
FIDELITY = BootSpec("fidelity", "run=fidelity", cpus=2, megs=512, timeout=300, label="fidelity",
                    modules=registry.modules("fidelity"))
GUEST_LINE = re.compile(r"^\[guest (\S+)\] (.*)$")

ENOSYS = "0xfffffffffffffc18"  # -KVM_ENOSYS (-1000), 64-bit
HYPERCALLS = [("unknown 0", "0x0", ENOSYS), ("unknown 0x12345678", "0x12345678", ENOSYS),
              ("unknown 0x100000001", "0x100000001", ENOSYS), ("VAPIC_POLL_IRQ", "0x1", "0x0"),
              ("KICK_CPU", "0x5", ENOSYS), ("SEND_IPI", "0xa", ENOSYS),
              ("SCHED_YIELD", "0xb", ENOSYS), ("MAP_GPA_RANGE", "0xc", ENOSYS)]
# From compatibility mode (32-bit number and result) and from CPL 3 (-KVM_EPERM).
OTHER_MODES = [
    "kvmhc: compatibility mode, unknown (rax 0xdead000000000000): rax 0xfffffc18",
    "kvmhc: compatibility mode, VAPIC_POLL_IRQ (rax 0xdead000000000001): rax 0x0",
    "kvmhc: CPL 3, VAPIC_POLL_IRQ (rax 0x1): rax 0xffffffffffffffff",
    "kvmhc: CPL 3, unknown (rax 0x0): rax 0xffffffffffffffff"]

# Reads narrower than 32 bits from the APIC page: QEMU 7.2 returns 0 for them
# (hw/intc/apic.c, apic_mem_read: size < 4); the CPU reading its virtual-APIC page, KVM's
# lapic (kvm_lapic_reg_read) and eptvisor (pc/exit.c, apic_read_part) return the register's
# bytes. QEMU's line -> eptvisor's.
SUBDWORD_APIC_READS = {
    "mmio_ops: tpr 0x90: movzbl 0x0": "mmio_ops: tpr 0x90: movzbl 0x90",
    "mmio_ops: tpr 0x90: movsbl 0x0": "mmio_ops: tpr 0x90: movsbl 0xffffff90",
    "mmio_ops: tpr 0x90: movswq 0x0": "mmio_ops: tpr 0x90: movswq 0x90",
}


# COM1 with MCR.OUT2 clear: a PC's COM port keeps its interrupt off the ISA bus (OUT2 enables
# the IRQ driver), and eptvisor gates it so; QEMU 7.2's serial.c raises the IRQ regardless.
OUT2_GATING = {
    "com1: OUT2 clear, THR-empty enabled: 1 interrupt(s)":
        "com1: OUT2 clear, THR-empty enabled: 0 interrupt(s)",
}
PLATDEV_PREFIXES = ("platdev: ", "com1: ", "rtc: ", "kbc: ", "pci: ")


def vm_lines(res, vm, prefix):
    """What VM vm's guest printed, lines starting with PREFIX."""
    return [m.group(2).rstrip() for m in map(GUEST_LINE.match, res.lines())
            if m and m.group(1) == vm and m.group(2).startswith(prefix)]


def json_exits(line):
    """The exits object of a scenario's @json line."""
    m = re.search(r'"exits":(\{[^}]*\})', line if isinstance(line, str) else line.group(0))
    return json.loads(m.group(1)) if m else {}


def passed(res, name, problems):
    got = [t for t in res.tap() if t.name == name]
    if not got or not got[0].passed:
        problems.append("scenario %s did not pass: %s" % (name, got[0] if got else "no TAP line"))


def ended_by_itself(res, vm, problems):
    if res.lines_matching(r"^(pc|vmx): VM '%s' stopped" % vm):
        problems.append("%s was stopped by eptvisor" % vm)
    if not res.lines_matching(r"^pc: VM '%s': guest exit: code 0 by " % vm):
        problems.append("%s did not end by its own exit with code 0" % vm)


@pytest.fixture(scope="module")
def qemu_ref():
    r = ev.make("pcguests")
    if not r.ok:
        pytest.fail("`make pcguests` failed:\n%s" % r.output[-4000:], pytrace=False)
    return {k: run_qemu_ex(BUILD_PC / k, "", cpus=1, megs=128, timeout=60, name="fidelity-" + k)
            for k in ("kvmhc.elf", "mmio_ops.elf", "msrs.elf", "platdev.elf")} | {
        "platdev " + a: run_qemu_ex(BUILD_PC / "platdev.elf", "quick " + a, cpus=1, megs=128,
                                    timeout=60, name="fidelity-platdev-" + a.replace("=", "-"))
        for a in ("reset=cf9", "reset=triple")}


def test_fidelity_rows():
    """The group holds the rows this file judges."""
    assert SCENARIOS == ["pc_kvm_hypercall", "pc_mmio_ops", "pc_msrs", "pc_platdev",
                         "pc_reset_cf9", "pc_reset_triple", "pc_poweroff"]


@pytest.mark.boot(FIDELITY)
def test_vmcall_is_kvms_hypercall(boots, judge, qemu_ref):
    """Each VMCALL gets KVM's answer, keeps RBX/RCX/RDX/RSI and resumes after itself once;
    VMMCALL is #UD; the kernel passes. Under QEMU TCG the same kernel finds no ABI (#UD)."""
    res = boots.result(FIDELITY)
    p = res.problems()
    vm = "pc_kvm_hypercall"
    passed(res, vm, p)
    ended_by_itself(res, vm, p)
    got = vm_lines(res, vm, "kvmhc: ")
    want = ["kvmhc: %s (rax %s): rax %s, arguments kept, next instruction ran 1 time(s)" % h
            for h in HYPERCALLS] + ["kvmhc: vmmcall: #UD"] + OTHER_MODES + ["kvmhc: PASS"]
    for w in want:
        if w not in got:
            p.append("%s did not print %r; it printed: %s" % (vm, w, got))
    if not res.lines_matching(r"^@json .*\"scenario\":\"%s\".*\"VMCALL\":13\b" % vm):
        p.append("%s: not 13 VMCALL exits" % vm)
    ref = qemu_ref["kvmhc.elf"]
    if "kvmhc: vmcall: #UD (no hypercall ABI)" not in ref.lines or ref.status != (0x70 << 1 | 1):
        p.append("QEMU TCG run of kvmhc.elf not as recorded (status %s): %s" %
                 (ref.status, ref.lines[-3:]))
    judge(res, p)


@pytest.mark.boot(FIDELITY)
def test_mmio_ops_same_as_qemu(boots, judge, qemu_ref):
    """mmio_ops prints QEMU's lines (sub-dword APIC reads excepted, as documented), passes,
    and is never stopped for an instruction eptvisor cannot emulate."""
    res = boots.result(FIDELITY)
    p = res.problems()
    vm = "pc_mmio_ops"
    passed(res, vm, p)
    ended_by_itself(res, vm, p)
    ref = qemu_ref["mmio_ops.elf"]
    theirs = [SUBDWORD_APIC_READS.get(l, l) for l in ref.lines if l.startswith("mmio_ops: ")]
    mine = vm_lines(res, vm, "mmio_ops: ")
    if not theirs or ref.status != 1:
        p.append("QEMU reference run failed (status %s): %s" % (ref.status, ref.lines[-3:]))
    if mine != theirs:
        p.append("mmio_ops output differs from QEMU's:\n%s" % "\n".join(
            "  eptvisor %-60r qemu %r" % (a, b)
            for a, b in zip(mine + [""] * len(theirs), theirs + [""] * len(mine)) if a != b))
    if res.lines_matching(r".*cannot emulate"):
        p.append("an MMIO instruction was refused")
    # The emulator did the work: the PPR's reads and the unassigned accesses exit (the
    # TPR/SVR/ID ones the CPU may serve from the virtual-APIC page itself).
    exits = [json_exits(l) for l in res.lines_matching(
        r"^@json .*\"scenario\":\"%s\".*\"exits\"" % vm)]
    e = exits[0] if exits else {}
    if e.get("APIC_ACCESS", 0) < 10 or e.get("EPT_VIOLATION", 0) < 12:
        p.append("%s: too few emulated accesses (exits %s)" % (vm, e))
    judge(res, p)


CPUID7_LINE = re.compile(r"^msrs: cpuid 7\.0 edx 0x([0-9a-f]+) ")
MSR_LINE = re.compile(r"^msrs: (0x[0-9a-f]+) (\S+): (.*)$")
# Same as QEMU TCG's lines.
MSRS_AS_QEMU = ("PLATFORM_INFO", "MISC_FEATURES_ENABLES", "DEBUGCTL", "APIC_BASE", "PAT",
                "EFER", "MISC_ENABLE", "MCG_STATUS")
# #GP under eptvisor (as KVM with this CPUID), 0 under QEMU TCG.
MSRS_GP = ("TSC_AUX", "TEST_CTRL", "TSC_DEADLINE", "MTRR_PHYSBASE0", "PERF_GLOBAL_CTRL",
           "KVM_WALL_CLOCK_NEW", "AMD_HWCR")


@pytest.mark.boot(FIDELITY)
def test_msrs_linux_reads(boots, judge, qemu_ref):
    """The MSRs CPUID.7:EDX promises read (Linux reads them with plain RDMSR), the others as
    documented; writes as documented; the VM ends by itself."""
    res = boots.result(FIDELITY)
    p = res.problems()
    vm = "pc_msrs"
    passed(res, vm, p)
    ended_by_itself(res, vm, p)
    lines = vm_lines(res, vm, "msrs: ")
    cpuid = [int(m.group(1), 16) for m in map(CPUID7_LINE.match, lines) if m]
    edx = cpuid[0] if cpuid else 0
    if not cpuid:
        p.append("%s printed no CPUID line" % vm)
    got = {m.group(2): m.group(3) for m in map(MSR_LINE.match, lines) if m}
    promised = {"SPEC_CTRL": edx & (0x1 << 26 | 0x1 << 27 | 0x1 << 31),
                "ARCH_CAPABILITIES": edx & 1 << 29, "CORE_CAPABILITIES": edx & 1 << 30}
    for name, on in promised.items():
        if bool(on) == (got.get(name) == "#GP"):
            p.append("%s: CPUID.7:EDX 0x%x %s it, but RDMSR of %s: %s" %
                     (vm, edx, "offers" if on else "does not offer", name, got.get(name)))
    if promised["CORE_CAPABILITIES"] and got.get("CORE_CAPABILITIES") != "0x0":
        p.append("CORE_CAPABILITIES should read 0")
    for name in MSRS_GP:
        if got.get(name) != "#GP":
            p.append("RDMSR of %s should #GP: %s" % (name, got.get(name)))
    ref = {m.group(2): m.group(3)
           for m in map(MSR_LINE.match, qemu_ref["msrs.elf"].lines) if m}
    for name in MSRS_AS_QEMU:
        if got.get(name) != ref.get(name) or name not in ref:
            p.append("RDMSR of %s: %s, QEMU TCG %s" % (name, got.get(name), ref.get(name)))
    want = ["msrs: wrmsr 0x140 MISC_FEATURES_ENABLES 0x0: ok, reads 0x0",
            "msrs: wrmsr 0x140 MISC_FEATURES_ENABLES 0x1: #GP",
            "msrs: wrmsr 0x1d9 DEBUGCTL 0x2: ok, reads 0x2", "msrs: wrmsr 0x1d9 DEBUGCTL 0x1: #GP",
            "msrs: wrmsr 0x1d9 DEBUGCTL 0x0: ok, reads 0x0", "msrs: end"]
    if promised["SPEC_CTRL"] and edx & (1 << 26 | 1 << 31) == (1 << 26 | 1 << 31):
        want += ["msrs: wrmsr 0x48 SPEC_CTRL 0x5: ok, reads 0x5",
                 "msrs: wrmsr 0x48 SPEC_CTRL 0x8: #GP",
                 "msrs: wrmsr 0x48 SPEC_CTRL 0x0: ok, reads 0x0"]
    if edx & 1 << 26:
        want += ["msrs: wrmsr 0x49 PRED_CMD 0x1: ok, reads #GP",
                 "msrs: wrmsr 0x49 PRED_CMD 0x2: #GP"]
    if edx & 1 << 28:
        want += ["msrs: wrmsr 0x10b FLUSH_CMD 0x1: ok, reads #GP"]
    if edx & 1 << 29:
        want += ["msrs: wrmsr 0x10a ARCH_CAPABILITIES 0x0: #GP"]
    for w in want:
        if w not in lines:
            p.append("%s did not print %r" % (vm, w))
    judge(res, p)


def platdev_lines(lines):
    return [l.rstrip() for l in lines if l.startswith(PLATDEV_PREFIXES)]


@pytest.mark.boot(FIDELITY)
def test_platform_devices_same_as_qemu(boots, judge, qemu_ref):
    """platdev's COM1, RTC, 8042 and PCI lines are QEMU TCG's (OUT2 gating excepted, as
    documented), it passes and ends by its own exit; every interrupt came through a PIC."""
    res = boots.result(FIDELITY)
    p = res.problems()
    vm = "pc_platdev"
    passed(res, vm, p)
    ended_by_itself(res, vm, p)
    ref = qemu_ref["platdev.elf"]
    theirs = [OUT2_GATING.get(l, l) for l in platdev_lines(ref.lines)]
    mine = [m.group(2).rstrip() for m in map(GUEST_LINE.match, res.lines())
            if m and m.group(1) == vm and m.group(2).startswith(PLATDEV_PREFIXES)]
    if ref.status != 1 or "platdev: PASS" not in theirs:
        p.append("QEMU reference run failed (status %s): %s" % (ref.status, ref.lines[-3:]))
    if mine != theirs:
        p.append("platdev output differs from QEMU's:\n%s" % "\n".join(
            "  eptvisor %-60r qemu %r" % (a, b)
            for a, b in zip(mine + [""] * len(theirs), theirs + [""] * len(mine)) if a != b))
    if res.lines_matching(r"^pc: VM '%s': unknown port 0xcf" % vm):
        p.append("the PCI ports were counted as unknown")
    judge(res, p)


@pytest.mark.boot(FIDELITY)
def test_resets_and_poweroff_end_cleanly(boots, judge, qemu_ref):
    """0xcf9 and a triple fault end the VM as a reset (exit code 0, named), as QEMU with
    -no-reboot ends; every CPU in cli; hlt is named a power-off, not a hang."""
    res = boots.result(FIDELITY)
    p = res.problems()
    for vm, how, arg in (("pc_reset_cf9", "PCI reset control \\(bit 2 written to port 0xcf9\\)",
                          "reset=cf9"),
                         ("pc_reset_triple", "triple fault \\(the PC resets\\)", "reset=triple")):
        passed(res, vm, p)
        if not res.lines_matching(r"^pc: VM '%s': guest exit: code 0 by %s$" % (vm, how)):
            p.append("%s did not end by %s" % (vm, how))
        if "platdev: FAIL" in vm_lines(res, vm, "platdev: "):
            p.append("%s: the reset did not end the machine" % vm)
        ref = qemu_ref["platdev " + arg]
        if ref.status != 0 or "platdev: FAIL" in ref.lines:
            p.append("QEMU did not reset on %s (status %s): %s" % (arg, ref.status, ref.lines[-2:]))
    if not res.lines_matching(r"^pc: VM 'pc_reset_triple': vcpu 0: triple fault at rip 0x"):
        p.append("the triple fault was not named")
    vm = "pc_poweroff"
    passed(res, vm, p)
    if not res.lines_matching(r"^pc: VM '%s': guest powered off: every vCPU halted with "
                              r"interrupts off$" % vm):
        p.append("%s was not named powered off" % vm)
    if "platdev: halting with interrupts off" not in vm_lines(res, vm, "platdev: "):
        p.append("%s did not reach its halt" % vm)
    judge(res, p)
