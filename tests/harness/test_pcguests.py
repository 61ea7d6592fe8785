"""Unmodified guest kernels under eptvisor (issue 7): the PC guest kernels of guests/pc/, given
to GRUB as modules, run as scenarios (run=pc, and guest= on the command line); each one that
runs to its end must print exactly what it prints under plain QEMU TCG (`-kernel`, no
eptvisor) and end with the same exit status. The hostile ones must be refused or stopped by
name, and the hypervisor must go on to the next scenario.

Everything is judged from the serial log: the guest's UART lines carry the VM's name
("[guest <vm>] ..."), eptvisor's own lines ("pc: VM '<vm>': ...") say how each guest ended.
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

import eptvisor as ev
import registry
from eptvisor import BootSpec
from pcguests import PC_GUESTS, exit_status, guest_lines, run_guest

# The kernels of the pc group's rows (scenarios/registry.c); the guest= runs use them too.
MODULES = registry.modules("pc")

# All pc scenarios plus the command-line guest (pcmb1 on one vCPU, as PC_GUESTS' pcmb1-smp1).
PC = BootSpec("pc", "run=guest,pc guest=pcmb1.elf guest_vcpus=1 guest_mem=128M", cpus=2,
              megs=512, timeout=400, label="pc", modules=MODULES)
# pcmb1 with four vCPUs, its arguments quoted on the command line (PC_GUESTS' pcmb1-smp4);
# guest_mark= snapshots its exits when it reports its CPUs up.
SMP4_MARK = "smp: 4 CPUs up"
PC4 = BootSpec("pc-smp4", 'run=guest guest=pcmb1.elf guest_args="smp four" guest_vcpus=4 '
               'guest_mark="%s"' % SMP4_MARK, cpus=4, megs=512, timeout=300, label="pc-smp4",
               modules=MODULES)

# The pc_moves group on three CPUs: pc_apic_moves (two vCPUs and the host task that moves
# their APIC pages), pc_apf_2vcpu; and the command-line guest over a slow store with KVM's
# async page faults (guest_store=, guest_pv=kvm: the store's I/O task runs for it).
APF_GUEST_ARGS = "buf=0x1c00000 pages=64 passes=1 slice_us=10000"
APIC_MOVES = BootSpec("pc-apic-moves",
                      'run=guest,pc_moves guest=pcapf.elf guest_args="%s" guest_mem=32M '
                      "guest_store=4M guest_pv=kvm" % APF_GUEST_ARGS, cpus=3, megs=512,
                      timeout=400, label="pc-apic-moves", modules=registry.modules("pc_moves"))

# A runaway kernel on the command line, with a small guest_budget=.
RUNAWAY = BootSpec("pc-runaway", "run=guest guest=runaway.elf guest_budget=5", cpus=2,
                   megs=512, timeout=120, label="pc-runaway", modules=MODULES)

# scenario (VM name) -> the PC_GUESTS entry whose QEMU run it must match.
SAME_AS_QEMU = {
    "pc_mb1": ("pcmb1", PC),
    "pc_mb2": ("pcmb2", PC),
    "pc_apic_garbage": ("apic_garbage", PC),
    "pc_bzimage": ("pcbz", PC),
    "pc_ioapic": ("ioapic-smp2", PC),
    "guest": ("pcmb1-smp1", PC),
}

GUEST_LINE = re.compile(r"^\[guest (\S+)\] (.*)$")
EXIT_LINE = re.compile(r"^pc: VM '(\S+)': guest exit: code (-?\d+) by (.*)$")


@pytest.fixture(scope="module")
def qemu_runs():
    """The QEMU TCG reference runs, started at once: PC_GUESTS name -> future of a QemuRun."""
    r = ev.make("pcguests")
    if not r.ok:
        pytest.fail("`make pcguests` failed:\n%s" % r.output[-4000:], pytrace=False)
    names = {n for n, _ in SAME_AS_QEMU.values()} | {"pcmb1-smp4", "pcmb1-apicloop", "wild_jump",
                                                     "bad_header"}
    ex = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qemu-ref")
    futures = {n: ex.submit(run_guest, PC_GUESTS[n]) for n in names}
    yield futures
    ex.shutdown(wait=True)


def vm_lines(res, vm):
    """The guest's UART output under eptvisor: its lines in the serial log, prefix removed."""
    out = []
    for line in res.lines():
        m = GUEST_LINE.match(line)
        if m and m.group(1) == vm:
            out.append(m.group(2))
    return guest_lines(out)


def vm_raw_lines(res, vm):
    """All of VM vm's UART lines, prefix removed (kernels without the banner vm_lines wants)."""
    return [m.group(2) for m in (GUEST_LINE.match(l) for l in res.lines())
            if m and m.group(1) == vm]


def vm_exit(res, vm):
    """(exit code, how) eptvisor reported for VM vm, or None."""
    for line in res.lines():
        m = EXIT_LINE.match(line)
        if m and m.group(1) == vm:
            return int(m.group(2)), m.group(3)
    return None


def matches(res, regex):
    """re match objects of every serial-log line matching regex (anchored at the start)."""
    r = re.compile(regex)
    return [m for m in (r.match(l) for l in res.lines()) if m]


def expect_passed(res, name, problems):
    """Scenario NAME must have a passing TAP line."""
    got = [t for t in res.tap() if t.name == name]
    if not got or not got[0].passed:
        problems.append("scenario %s did not pass: %s" % (name, got[0] if got else "no TAP line"))


def _compare(res, vm, ref, problems):
    """vm's output and exit under eptvisor against the QEMU reference run."""
    mine, theirs = vm_lines(res, vm), guest_lines(ref.lines)
    if not theirs:
        problems.append("QEMU printed nothing for %s (status %s): %s" % (vm, ref.status,
                                                                          ref.stderr[-300:]))
    if mine != theirs:
        diff = [("eptvisor: %r" % a, "qemu:     %r" % b)
                for a, b in zip(mine + [""] * len(theirs), theirs + [""] * len(mine)) if a != b]
        problems.append("%s: output differs from QEMU's (%d vs %d lines); first differences:\n%s"
                        % (vm, len(mine), len(theirs),
                           "\n".join("  %s\n  %s" % d for d in diff[:5])))
    ended = vm_exit(res, vm)
    if ended is None:
        problems.append("%s: eptvisor reported no guest exit" % vm)
    elif exit_status(ended[0]) != ref.status:
        problems.append("%s: exit code %d (QEMU status %d) but QEMU exited with %s" %
                        (vm, ended[0], exit_status(ended[0]), ref.status))


@pytest.mark.boot(PC)
@pytest.mark.parametrize("vm", sorted(SAME_AS_QEMU))
def test_same_output_as_qemu(boots, judge, qemu_runs, vm):
    """The kernel boots under eptvisor (Bochs) and prints, line for line, what it prints
    under QEMU TCG, and ends with the exit code QEMU reports."""
    ref_name, spec = SAME_AS_QEMU[vm]
    res = boots.result(spec)
    p = res.problems()
    expect_passed(res, vm, p)
    _compare(res, vm, qemu_runs[ref_name].result(), p)
    judge(res, p)


@pytest.mark.boot(PC4)
def test_smp4_same_output_as_qemu(boots, judge, qemu_runs):
    """Four vCPUs: the BSP starts three APs in real mode with INIT-SIPI-SIPI, each sends it
    an IPI; the output (APIC ids 0-3) and exit are QEMU's."""
    res = boots.result(PC4)
    p = res.problems()
    _compare(res, "guest", qemu_runs["pcmb1-smp4"].result(), p)
    if SMP4_MARK not in vm_lines(res, "guest"):
        p.append("the guest did not report 4 CPUs up")
    judge(res, p)


@pytest.mark.boot(PC4)
def test_guest_mark_snapshots_exits(boots, judge):
    """guest_mark=TEXT: right after the guest's first console line holding TEXT, one
    @json "mark" line with the VM's exits by reason so far; each count at most the VM's
    final one, and fewer in all (the guest still exits after it)."""
    res = boots.result(PC4)
    p = res.problems()
    marks = [r for r in res.json() if "mark" in r]
    final = next((r["exits"] for r in res.json()
                  if r.get("scenario") == "guest" and "result" in r), {})
    lines = res.serial.splitlines()
    at = next((i for i, l in enumerate(lines) if l.endswith("] " + SMP4_MARK)), None)
    if len(marks) != 1 or marks[0].get("mark") != SMP4_MARK or \
            marks[0].get("scenario") != "guest":
        p.append("not one mark line for the guest: %r" % marks)
    elif at is None or not any(l.startswith('@json {"mark"') for l in lines[at + 1:at + 4]):
        # (within 3 lines: another CPU's line may come between the two printk calls)
        p.append("the mark line does not follow the guest's line: %r" %
                 (lines[at:at + 4] if at is not None else None))
    else:
        snap = marks[0]["exits"]
        if not snap or any(n > final.get(k, 0) for k, n in snap.items()):
            p.append("snapshot %r against the final counts %r" % (snap, final))
        if sum(snap.values()) <= 0 or sum(snap.values()) >= sum(final.values()):
            p.append("the snapshot is no count of the run so far: %r, final %r" % (snap, final))
    judge(res, p)


@pytest.mark.boot(APIC_MOVES)
def test_async_page_faults_two_vcpus_and_guest_option(boots, judge):
    """pcapf on two vCPUs (pc_apf_2vcpu: a scheduler, walkers and an async-PF area per CPU)
    takes async page faults on both and verifies; and a kernel given as guest= with
    guest_store= and guest_pv=kvm gets its store served (the I/O task runs for it) and its
    async page faults."""
    res = boots.result(APIC_MOVES)
    p = res.problems()
    _apf_run(res, "pc_apf_2vcpu", p, True, cpus=2)
    _apf_run(res, "guest", p, True)
    judge(res, p)


@pytest.mark.boot(APIC_MOVES)
def test_apic_pages_move_under_timer_and_ipis(boots, judge, qemu_runs):
    """While pcmb1 on two vCPUs runs 400 rounds of LAPIC timer ticks and IPI round trips,
    the host task moves the VM's APIC-access page (vm_migrate_page on 0xfee00, the call
    that once freed a frame every VMCS named) and both virtual-APIC pages 100 times each:
    the guest's output and exit are still QEMU's, the guest was still running when the
    moves ended, and after no move did a VMCS name a freed frame."""
    res = boots.result(APIC_MOVES)
    p = res.problems()
    expect_passed(res, "pc_apic_moves", p)
    _compare(res, "pc_apic_moves", qemu_runs["pcmb1-apicloop"].result(), p)
    got = [o for o in res.json() if "apic_moves" in o]
    if not got:
        p.append("no @json line with the moves")
    else:
        o = got[0]
        if o["apic_access_moves"] < 100 or o["virtual_apic_moves"] < 200:
            p.append("too few moves survived: %s" % o)
        if o["vmcs_named_but_free"] or o["error"] or not o["guest_ran_throughout"]:
            p.append("a move went wrong or ran after the guest: %s" % o)
    judge(res, p)


def _apf_run(res, vm, p, async_on, cpus=1):
    """pcapf in VM vm: passed, every pass verified, async as expected; returns the guest's
    @json and the hypervisor's apf and pc_store lines (None where missing)."""
    expect_passed(res, vm, p)
    lines = vm_raw_lines(res, vm)
    passes = [l for l in lines if l.startswith("pcapf: pass ")]
    if not passes or any("verified" not in l and "written" not in l for l in passes):
        p.append("%s: not every pass verified: %s" % (vm, passes))
    mine = [json.loads(l.split("@json ", 1)[1]) for l in lines if l.startswith("pcapf: @json ")]
    g = next((o for o in mine if "walk_tsc" in o), None)
    apf = next((o for o in res.json() if o.get("apf") == vm), None)
    store = next((o for o in res.json() if o.get("pc_store") == vm), None)
    if g is None or store is None:
        p.append("%s: missing the guest's @json or the store's: %s / %s" % (vm, g, store))
        return g, apf, store
    if g["async"] != (1 if async_on else 0) or g["cpus"] != cpus or g["real_pf"]:
        p.append("%s: the guest ran with async %s on %s CPUs (%s real #PFs), want %s on %d"
                 % (vm, g["async"], g["cpus"], g["real_pf"], async_on, cpus))
    if store["fetches"] < g["pages"]:
        p.append("%s: %d fetches for %d pages first touched" % (vm, store["fetches"],
                                                               g["pages"]))
    if async_on:
        if apf is None or apf["not_present"] == 0 or apf["ready"] == 0:
            p.append("%s: no async page faults delivered: %s" % (vm, apf))
        elif (apf["not_present"] != g["not_present"] or
              apf["ready"] + apf["wake_all"] != g["ready"] or
              apf["acks"] != g["ready"] or apf["ready_latency_us"]["n"] != apf["ready"]):
            p.append("%s: the guest's counts %s disagree with the hypervisor's %s" % (vm, g, apf))
    elif store["waits"] < g["pages"] or apf is not None:
        p.append("%s: without async faults every first touch waits in the hypervisor: %s, "
                 "apf line %s" % (vm, store, apf))
    return g, apf, store


@pytest.mark.boot(PC)
def test_async_page_faults(boots, judge):
    """Issue 15: pcapf walks 128 pages of a slow store (prefilled by the host) with two
    walker tasks while a compute task runs. With guest_pv=kvm (pc_apf) every first touch is
    a "page not present" #PF and a "page ready" interrupt, counted alike by guest and
    hypervisor, ACKed, with their latencies; without (pc_apf_sync) each touch waits in the
    hypervisor. Both verify every word of every pass."""
    res = boots.result(PC)
    p = res.problems()
    g, apf, _ = _apf_run(res, "pc_apf", p, True)
    if g and g["not_present"] < g["pages"]:
        p.append("pc_apf: %d not-present faults for %d pages in flight" % (g["not_present"],
                                                                         g["pages"]))
    if apf and (apf["waited_off"] or apf["waited_full"] or apf["dropped"]):
        p.append("pc_apf: unexpected waits or drops: %s" % apf)
    _apf_run(res, "pc_apf_sync", p, False)
    judge(res, p)


@pytest.mark.boot(PC)
def test_idle_pages_evicted_and_refaulted_async(boots, judge):
    """Issue 15 item 4 on a PC guest: the reclaim policy keeps 64 of pcapf's 256 store pages
    resident, evicting the pages the A-bit scan found idle; each later pass refaults them,
    through async page faults, and the kernel verifies every word."""
    res = boots.result(PC)
    p = res.problems()
    g, apf, st = _apf_run(res, "pc_apf_reclaim", p, True)
    if st:
        if st["resident_limit"] != 64 or st["resident_max"] > 64 + st["depth"]:
            p.append("resident pages over the limit: %s" % st)
        if st["evictions"] < g["pages"] or st["refaults"] < g["pages"]:
            p.append("too few evictions or refaults for 3 passes over 256 pages: %s" % st)
        if apf and apf["not_present"] < g["pages"] + st["refaults"] // 2:
            p.append("the refaults were not taken asynchronously: %s / %s" % (apf, st))
    judge(res, p)


@pytest.mark.boot(PC)
def test_async_page_faults_hostile(boots, judge):
    """Issue 15 item 6: pcapf_hostile misuses the interface (areas at MMIO, the APIC page,
    across the end of RAM; reserved bits; delivery as #PF VM exit; vectors below 32 or wider
    than 8 bits; enable without delivery as interrupt; a second touch of a page in flight;
    never ACKing; disabling and re-enabling with tokens out; an area in the store, across two
    pages not yet fetched; interrupts off with pages in flight): each gets the documented
    answer, and the hypervisor goes on."""
    res = boots.result(PC)
    p = res.problems()
    expect_passed(res, "pc_apf_hostile", p)
    lines = vm_raw_lines(res, "pc_apf_hostile")
    cases = ["area_mmio", "area_apic", "area_end", "reserved_bits", "pf_vmexit", "vector_low",
             "vector_wide", "no_as_int", "dup_touch", "no_ack", "disable_outstanding",
             "enable_twice", "area_store", "cli_forever"]
    for c in cases:
        if "apf-hostile: %s: ok" % c not in lines:
            p.append("case %s: %s" % (c, [l for l in lines if (" %s:" % c) in l] or "missing"))
    if "apf-hostile: end: %d of %d ok" % (len(cases), len(cases)) not in lines:
        p.append("no end line with every case ok: %s" % lines[-2:])
    apf = next((o for o in res.json() if o.get("apf") == "pc_apf_hostile"), None)
    if not apf or apf["wake_all"] < 2 or apf["dropped"] < 2 or not apf["waited_dup"] or \
            not apf["waited_ctx"] or not apf["waited_off"]:
        p.append("the hypervisor's counts do not show the cases: %s" % apf)
    names = [t.name for t in res.tap()]
    if "pc_apf_hostile" in names and names.index("pc_apf_hostile") == len(names) - 1:
        p.append("no scenario ran after pc_apf_hostile")
    judge(res, p)


@pytest.mark.boot(PC)
def test_bad_header_refused_by_name(boots, judge, qemu_runs):
    """A kernel whose multiboot header has a bad checksum is refused with the reason, as
    QEMU refuses it; no guest code runs and the next scenario still runs."""
    res = boots.result(PC)
    p = res.problems()
    refused = res.lines_matching(r"^pc: VM 'pc_bad_header_refused': kernel 'bad_header.elf' "
                                 r"refused: .*bad checksum")
    if not refused:
        p.append("no 'refused: ... bad checksum' line for bad_header.elf")
    if vm_lines(res, "pc_bad_header_refused"):
        p.append("the refused kernel printed something: it ran")
    expect_passed(res, "pc_bad_header_refused", p)
    ref = qemu_runs["bad_header"].result()
    if ref.lines and guest_lines(ref.lines):
        p.append("QEMU ran bad_header.elf: %s" % ref.lines[:3])
    judge(res, p)


@pytest.mark.boot(PC)
def test_linux_loader_refusals_by_name(boots, judge):
    """The Linux loader refuses by name an initrd given to a multiboot kernel, multiboot
    modules given to a bzImage, and a bzImage whose init_size does not fit in the guest's
    RAM; none of them runs."""
    res = boots.result(PC)
    p = res.problems()
    want = {
        "pc_bzimage_initrd_refused": r"kernel 'pcmb1.elf' is no Linux bzImage: guest_initrd= "
                                     r"is for Linux",
        "pc_bzimage_mods_refused": r"Linux kernel 'pcbz.bin': guest_mods= are multiboot "
                                   r"modules; give its initrd as guest_initrd=",
        "pc_bzimage_small_refused": r"kernel 'pcbz.bin' refused: the kernel needs "
                                    r"\[0x100000, 0x200000\) .* in usable RAM",
    }
    for vm, why in want.items():
        if not res.lines_matching(r"^pc: VM '%s': %s" % (vm, why)):
            p.append("%s: no line saying why: %s" % (vm, why))
        if vm_lines(res, vm):
            p.append("%s: the refused kernel printed something: it ran" % vm)
        expect_passed(res, vm, p)
    judge(res, p)


@pytest.mark.boot(PC)
def test_wild_jump_stopped_by_name(boots, judge, qemu_runs):
    """A jump to guest-physical memory with nothing behind it stops that VM with a message
    naming the address (QEMU runs on through zeroes forever); its output up to there is
    QEMU's."""
    res = boots.result(PC)
    p = res.problems()
    if not res.lines_matching(r"^pc: VM 'pc_wild_jump_stopped' stopped: vcpu 0: jump to "
                              r"unmapped memory: instruction fetch at gpa 0xd0000000"):
        p.append("no stop message naming the fetch at 0xd0000000")
    expect_passed(res, "pc_wild_jump_stopped", p)
    ref = guest_lines(qemu_runs["wild_jump"].result().lines)
    if vm_lines(res, "pc_wild_jump_stopped") != ref:
        p.append("output before the jump differs: %s vs QEMU %s" %
                 (vm_lines(res, "pc_wild_jump_stopped"), ref))
    judge(res, p)


@pytest.mark.boot(PC)
def test_runaway_and_garbage_reported(boots, judge):
    """A kernel spinning with interrupts off is stopped by its time budget (preemption timer),
    one whose CPUs all halt with nothing to wake them is stopped at once (QEMU would hang),
    and writes of garbage to the APIC page are each named in the log and ignored."""
    res = boots.result(PC)
    p = res.problems()
    expect_passed(res, "pc_runaway_stopped", p)
    if not res.lines_matching(r"^pc: VM 'pc_runaway_stopped': guest did not exit by itself: "
                              r"vcpu 0: runaway: used its budget"):
        p.append("no runaway message for pc_runaway_stopped")
    expect_passed(res, "pc_halted_forever_stopped", p)
    # Every CPU in cli; hlt: how Linux halts (and powers off without ACPI), so it is named
    # a power-off, not an error (docs/platform.md, "Ending the VM").
    if not res.lines_matching(r"^pc: VM 'pc_halted_forever_stopped': guest powered off: "
                              r"every vCPU halted with interrupts off"):
        p.append("a kernel whose CPUs all halt with interrupts off was not named powered off")
    ignored = matches(res, r"^pc: VM 'pc_apic_garbage': vcpu 0: APIC write to offset "
                                 r"0x(\w+) .*ignored")
    offsets = {m.group(1) for m in ignored}
    for off in ("30", "390", "0", "ff0"):  # VER, TMCCT, reserved, reserved
        if off not in offsets:
            p.append("the garbage write to APIC offset 0x%s was not reported" % off)
    judge(res, p)


@pytest.mark.boot(PC)
def test_mission_features_on_a_guest_kernel(boots, judge):
    """While pcmb1 rewrites and verifies a 4 MiB buffer, the host logs its dirty pages in each
    mode, scans it hot and cold, and collapses, splits and re-collapses 2 MiB of the live
    buffer; the kernel verifies that no write was lost and passes."""
    res = boots.result(PC)
    p = res.problems()
    expect_passed(res, "pc_mission", p)
    checks = matches(res, r"^  check pc_mission/host: (ok|FAILED) - (.*)$")
    text = [m.group(2) for m in checks if m.group(1) == "ok"]
    for what in ("write-protect dirty log", "D-bit dirty log", "PML dirty log",
                 "idle scan of the kernel's memory", "collapsed into one leaf by copying",
                 "split back to 4K", "collapsed again in place"):
        if not any(what in c for c in text):
            p.append("no passing host check for: %s" % what)
    if [m for m in checks if m.group(1) == "FAILED"]:
        p.append("failed host checks: %s" % [m.group(2) for m in checks if m.group(1) != "ok"])
    lines = vm_lines(res, "pc_mission")
    if "work: 400 passes over 4 MiB verified" not in lines or "pcmb1: PASS" not in lines:
        p.append("the kernel did not verify its buffer and pass: %s" % lines[-3:])
    judge(res, p)


@pytest.mark.boot(PC)
def test_compaction_under_a_guest_kernel(boots, judge):
    """Issue 14: the 8 MiB of host memory holding a running kernel's APIC-access page is
    evacuated: every guest page there moves (the APIC-access page with every VMCS reloaded,
    a virtual-APIC page in the range too), nothing of the guest is left in it, and the kernel
    verifies its buffer and passes."""
    res = boots.result(PC)
    p = res.problems()
    expect_passed(res, "pc_compact", p)
    got = [o for o in res.json() if "pc_compact" in o]
    if len(got) != 1:
        p.append("want one pc_compact line, got %s" % got)
    else:
        o = got[0]
        if o["left"] != 0 or o["apic_access_moved"] != 1 or o["pages_4k"] == 0:
            p.append("the range still holds guest pages or the APIC page: %s" % o)
        if o["free_after"] <= o["free_before"]:
            p.append("the range did not gain free frames: %s" % o)
    lines = vm_lines(res, "pc_compact")
    if "work: 3000 passes over 4 MiB verified" not in lines or "pcmb1: PASS" not in lines:
        p.append("the kernel did not verify its buffer and pass: %s" % lines[-3:])
    judge(res, p)


@pytest.mark.boot(PC)
def test_hypervisor_goes_on(boots, judge):
    """After every refused, stopped or runaway guest the next scenario runs: all of them are
    reported and the run ends with its summary and a clean shutdown; no frame leaks."""
    res = boots.result(PC)
    p = res.problems()
    names = [t.name for t in res.tap()]
    want = ["guest"] + registry.names(registry.selected("pc"))
    if names != want:
        p.append("scenarios reported %s, expected %s" % (names, want))
    for o in res.json():
        if o.get("frames_leaked"):
            p.append("%s leaked %s frames" % (o.get("scenario"), o["frames_leaked"]))
    pcs = {o["pc"]: o for o in res.json() if "pc" in o}
    for vm in want:
        if not vm.endswith("_refused") and vm not in pcs:
            p.append("no @json platform counters for %s" % vm)
    if pcs.get("pc_apic_garbage", {}).get("apic_writes_ignored", 0) < 4:
        p.append("the ignored APIC writes were not counted: %s" % pcs.get("pc_apic_garbage"))
    if pcs.get("pc_mb1", {}).get("exit_code") != 0:
        p.append("pc_mb1's counters do not carry its exit code 0: %s" % pcs.get("pc_mb1"))
    judge(res, p)


@pytest.mark.boot(RUNAWAY)
def test_guest_budget_option(boots, judge):
    """guest_budget= sets the command-line guest's run time: a runaway kernel is stopped
    after 5 million timer ticks, by name, and the run still ends with its summary."""
    res = boots.result(RUNAWAY)
    # The guest scenario fails (the kernel never exits): that TAP line is expected.
    p = [x for x in res.problems(expect_summary=False)
         if not x.startswith("TAP failure: not ok 1 - guest # the guest did not exit")]
    if not res.lines_matching(r"^pc: VM 'guest': guest did not exit by itself: vcpu 0: "
                              r"runaway: used its budget of 5000000 timer ticks"):
        p.append("the runaway guest was not stopped after its 5M-tick budget by name")
    s = res.summary()
    if s is None or s[:2] != (0, 1):
        p.append("expected the summary '0 passed, 1 failed' (a guest that never exits "
                 "fails), got %s" % (s,))
    judge(res, p)
