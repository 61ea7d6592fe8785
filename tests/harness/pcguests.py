"""The PC guest kernels (guests/pc/, `make pcguests` -> build/pc/): how to run them under plain
QEMU TCG, the reference, and what they are expected to print there.

These kernels must print the same lines under QEMU and under eptvisor, so a test may run a kernel
on both and compare guest_lines() of the two serial logs; PC_GUESTS says, for each kernel, what
to pass it and what QEMU does with it.

    lines, status = run_qemu(BUILD_PC / "pcmb1.elf", "alpha beta=2", cpus=2)
    guest_lines(lines)      # from the banner on, '\\r' stripped
    problems(PC_GUESTS["pcmb1"], lines, status)   # [] when QEMU behaved as recorded

QEMU's exit status after isa-debug-exit is (code << 1) | 1: a kernel that writes 0 (PASS)
makes QEMU exit 1. status is None when the run hit its wall-clock timeout (runaway kernels).
Stdlib only; timeouts scale with EPTVISOR_TIMEOUT_SCALE like every other boot of the rig.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eptvisor import REPO, _kill_group, grub_args, timeout_scale  # noqa: E402

BUILD_PC = REPO / "build" / "pc"
RUNS_PC = BUILD_PC / "runs"
ISO_CACHE = BUILD_PC / "iso-cache"

# The first line every PC guest kernel prints starts with its name and a colon.
BANNER_RE = re.compile(r"^(pcmb1|pcmb2|apic_garbage|wild_jump|runaway|bad_header|irqattack|pcbz|ioapic): ")


def exit_status(code):
    """QEMU's process exit status after the guest wrote CODE to isa-debug-exit."""
    return ((code << 1) | 1) & 0xff


QemuRun = namedtuple("QemuRun", "lines status stderr cmd serial_path duration")


# ---------------------------------------------------------------------------------------------
# the table

class PcGuest(namedtuple("PcGuest", "name file args cpus megs mb2 timeout qemu_status "
                                    "expect forbid qemu_note initrd", defaults=(None,))):
    """One way to run one PC guest kernel.

    name         key in PC_GUESTS (a kernel may appear several times with other args/cpus)
    file         image under build/pc/ (pcmb2.elf is booted from a GRUB ISO under QEMU)
    args         command line after the kernel path (-append / the grub.cfg multiboot2 line)
    cpus, megs   -smp and -m
    mb2          True: multiboot 2 (QEMU needs GRUB: run_qemu builds an ISO)
    timeout      wall-clock seconds (before EPTVISOR_TIMEOUT_SCALE)
    qemu_status  expected QEMU exit status; None = still running at the timeout
    expect       lines that must appear in guest_lines(), in this order (others may come between)
    forbid       regexes no guest line may match
    qemu_note    what QEMU does with it, in words
    initrd       a Linux kernel's initrd under build/pc/ (-initrd), or None
    """

    @property
    def path(self):
        return BUILD_PC / self.file


_FAILS = (r"^FAIL", r"^EXCEPTION")
_PCMB_TAIL = ["uart: scratch register ok", "fw_cfg: signature QEMU", "fw_cfg: cpus {cpus}, ram {megs} MiB",
              "fw_cfg: key 0x3fff reads as zero", "pic: remapped to 0x20/0x28, all masked",
              "lapic: IA32_APIC_BASE 0xfee00000, BSP, enabled", "lapic: id 0, version 0x50014",
              "timer: periodic 10 ticks ok", "timer: one-shot ok",
              "pit: 10 ticks through the PIC ok", "smp: {cpus} CPUs up",
              "smp: apic ids {ids}"]


def _pcmb(name, file, mb, args, cpus, megs=128, timeout=60):
    expect = ["%s: PC guest kernel, multiboot %d" % (file[:5], mb), "cmdline: " + args,
              "modules: 0"]
    expect += [l.format(cpus=cpus, megs=megs, ids=" ".join(str(i) for i in range(cpus)))
               for l in _PCMB_TAIL]
    expect.append("%s: PASS" % file[:5])
    note = ("PASS, exit code 0 -> QEMU status 1" if mb == 1 else
            "booted by GRUB 2 from an ISO (QEMU -kernel knows only multiboot 1); "
            "PASS, exit code 0 -> QEMU status 1")
    return PcGuest(name, file, args, cpus, megs, mb == 2, timeout, exit_status(0), expect,
                   _FAILS, note)


def _pcmb_apicloop(name, rounds):
    """pcmb1 on two vCPUs with apicloop=N: after the usual checks, N rounds of an IPI round
    trip to the AP and a LAPIC timer tick (the guest of the pc_apic_moves scenario)."""
    g = _pcmb(name, "pcmb1.elf", 1, "apicloop=%d" % rounds, cpus=2)
    loop = "apic: %d rounds of a timer tick and an IPI round trip ok" % rounds
    return g._replace(expect=g.expect[:-1] + [loop] + g.expect[-1:])


PC_GUESTS = {g.name: g for g in [
    _pcmb("pcmb1", "pcmb1.elf", 1, "alpha beta=2", cpus=2),
    _pcmb("pcmb1-smp1", "pcmb1.elf", 1, "", cpus=1),
    _pcmb("pcmb1-smp4", "pcmb1.elf", 1, "smp four", cpus=4),
    _pcmb_apicloop("pcmb1-apicloop", 400),
    _pcmb("pcmb2", "pcmb2.elf", 2, "alpha beta=2", cpus=2),
    PcGuest("bad_header", "bad_header.elf", "", 1, 128, False, 30, exit_status(0), [],
            [r"."],
            "QEMU refuses it before the guest runs: stderr 'Error loading uncompressed kernel "
            "without PVH ELF Note', status 1, empty serial log"),
    PcGuest("wild_jump", "wild_jump.elf", "", 1, 128, False, 8, None,
            ["wild_jump: jumping to 0xd0000000"], _FAILS,
            "unassigned memory reads as 0 under QEMU, so the CPU runs `add %al,(%eax)` on "
            "through the address space: no fault, no reset, no more output; runs until killed"),
    PcGuest("apic_garbage", "apic_garbage.elf", "", 1, 128, False, 30, exit_status(0),
            ["apic_garbage: in long mode, writing garbage to the LAPIC page",
             "apic_garbage: id and version unchanged", "apic_garbage: survived"], _FAILS,
            "QEMU ignores the writes (sub-dword ones entirely); exit code 0 -> status 1"),
    PcGuest("pcbz", "pcbz.bin", "alpha beta=2", 1, 128, False, 30, exit_status(0),
            ["pcbz: Linux boot protocol test kernel",
             "entry: cs 0x0010 ds 0x0018 es 0x0018 ss 0x0018 if 0 cr0.pg|pe 0x00000001",
             "boot_params: protocol 0x020f loadflags 0x81 type_of_loader set 1",
             "cmdline: alpha beta=2", "e820: 0x07 entries",
             "initrd: size 0x00001388 sum 0x0006ef1f",
             "initrd: page aligned, above the kernel, under initrd_addr_max, usable RAM",
             "pcbz: PASS"], _FAILS,
            "a bzImage: QEMU enters its real-mode setup, which fills e820 from SeaBIOS and "
            "takes the 32-bit entry; exit code 0 -> status 1", initrd="pcbz-initrd.bin"),
    PcGuest("runaway", "runaway.elf", "", 1, 128, False, 8, None,
            ["runaway: spinning with interrupts off"], _FAILS,
            "spins with interrupts off until killed"),
    PcGuest("ioapic-smp2", "ioapic.elf", "", 2, 128, False, 60, exit_status(0),
            ["ioapic: PC guest kernel, MP table and I/O APIC",
             "mp: floating pointer spec 1.4, configuration table spec 1.4, checksums ok",
             "mp: cpu apic id 0, version 0x14, enabled, BSP",
             "mp: cpu apic id 1, version 0x14, enabled", "mp: ISA bus",
             "mp: ioapic at 0xfec00000, version 0x11, enabled",
             "mp: isa irq 0 -> ioapic pin 2, type 0, flags 0x0",
             "mp: isa irq 4 -> ioapic pin 4, type 0, flags 0x0",
             "mp: local interrupt type 3 -> apic 0x0 LINT0",
             "mp: local interrupt type 1 -> apic 0xff LINT1",
             "ioapic: 24 redirection entries, version >= 0x11",
             "ioapic: every pin masked, edge, vector 0 at reset",
             "pit: 10 ticks through ioapic pin 2 ok", "com1: THR-empty interrupts 12345",
             "com1: 6 interrupts through ioapic pin 4 ok",
             "com1: level-triggered: 3 interrupts while the line was high, remote IRR set in "
             "each handler, clear after the EOI",
             "pit: 10 ticks through ioapic pin 2 to the AP, each answered by an IPI",
             "ioapic: PASS"], _FAILS,
            "SeaBIOS's MP table (one socket per CPU: see SOCKET_PER_CPU), QEMU's I/O APIC; "
            "PASS, exit code 0 -> QEMU status 1"),
]}

# QEMU 7.2 makes `-smp N` N cores of one package, and SeaBIOS lists only the first logical
# CPU of each package in its MP table; these runs give QEMU one socket per CPU, so that its
# table has a processor entry per CPU, as eptvisor's has.
SOCKET_PER_CPU = {"ioapic-smp2"}


# ---------------------------------------------------------------------------------------------
# reading output

def guest_lines(lines):
    """The comparable part of a serial log: from the guest kernel's banner on, without '\\r'.
    LINES: a list of lines or one string. [] if no banner was printed."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    lines = [l.replace("\r", "") for l in lines]
    for i, l in enumerate(lines):
        if BANNER_RE.match(l):
            out = lines[i:]
            while out and out[-1] == "":
                out.pop()
            return out
    return []


def problems(guest, lines, status, check_status=True):
    """What differs from the recorded QEMU behaviour of GUEST: missing or out-of-order expected
    lines, forbidden lines, a wrong exit status. [] when all is as expected."""
    got = guest_lines(lines)
    out = []
    i = 0
    for want in guest.expect:
        while i < len(got) and got[i] != want:
            i += 1
        if i == len(got):
            out.append("missing (or out of order): %r" % want)
            i = 0
        else:
            i += 1
    for rx in guest.forbid:
        bad = [l for l in got if re.search(rx, l)]
        if bad:
            out.append("lines matching /%s/: %s" % (rx, bad[:5]))
    if check_status and status != guest.qemu_status:
        out.append("QEMU status %s, expected %s" % (status, guest.qemu_status))
    return out


# ---------------------------------------------------------------------------------------------
# running under QEMU

def grub_cfg(kernel_name, args):
    """grub.cfg booting /boot/KERNEL_NAME with multiboot2. GRUB itself talks only to the
    (invisible) console; COM1 carries the guest alone."""
    return "\n".join([
        "set timeout=0", "set default=0", "terminal_output console",
        'menuentry "%s" {' % kernel_name,
        ("  multiboot2 /boot/%s %s" % (kernel_name, grub_args(args))).rstrip(),
        "  boot", "}", ""])


def make_mb2_iso(kernel, args):
    """A GRUB rescue ISO booting KERNEL (multiboot 2) with ARGS, cached by content under
    build/pc/iso-cache/. Returns its path."""
    kernel = Path(kernel)
    cfg = grub_cfg(kernel.name, args)
    h = hashlib.sha256(cfg.encode())
    h.update(kernel.read_bytes())
    iso = ISO_CACHE / ("%s-%s.iso" % (kernel.stem, h.hexdigest()[:16]))
    if iso.exists():
        return iso
    ISO_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ISO_CACHE) as tmp:
        root = Path(tmp) / "root"
        (root / "boot" / "grub").mkdir(parents=True)
        shutil.copy(kernel, root / "boot" / kernel.name)
        (root / "boot" / "grub" / "grub.cfg").write_text(cfg)
        out = Path(tmp) / "out.iso"
        p = subprocess.run(["grub-mkrescue", "-o", str(out), str(root)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace")
        if p.returncode != 0:
            raise RuntimeError("grub-mkrescue failed:\n" + p.stdout[-3000:])
        os.replace(out, iso)  # atomic: a concurrent maker of the same ISO loses nothing
    return iso


def qemu_command(kernel, args, cpus, megs, serial, mb2_iso=False, initrd=None,
                 socket_per_cpu=False, cpu_model=None):
    """The reference command line. CPU model: QEMU's default (qemu64 under TCG) unless
    CPU_MODEL names one (features.elf needs `max` for RDTSCP and PKU)."""
    smp = "%d,sockets=%d" % (cpus, cpus) if socket_per_cpu else str(cpus)
    cmd = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", str(megs),
           "-smp", smp, "-display", "none", "-monitor", "none",
           "-serial", "file:%s" % serial,
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot"]
    if cpu_model:
        cmd += ["-cpu", cpu_model]
    if mb2_iso:
        cmd += ["-cdrom", str(make_mb2_iso(kernel, args)), "-boot", "d"]
    else:
        cmd += ["-kernel", str(kernel), "-append", args]
        if initrd:
            cmd += ["-initrd", str(initrd)]
    return cmd


def run_qemu_ex(kernel, args="", cpus=2, megs=128, timeout=60, mb2_iso=False, name=None,
                initrd=None, socket_per_cpu=False, cpu_model=None):
    """run_qemu, returning a QemuRun (lines, status, stderr, cmd, serial_path, duration).
    Logs stay in build/pc/runs/NAME/ (NAME defaults to the kernel, cpus and args)."""
    kernel = Path(kernel)
    if not kernel.exists():
        raise FileNotFoundError("%s does not exist: run `make pcguests` first" % kernel)
    if name is None:
        name = "%s-smp%d-%s" % (kernel.stem, cpus, hashlib.sha1(args.encode()).hexdigest()[:8])
    run_dir = RUNS_PC / re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    run_dir.mkdir(parents=True, exist_ok=True)
    serial, errlog = run_dir / "serial.log", run_dir / "qemu.log"
    if serial.exists():
        serial.unlink()
    cmd = qemu_command(kernel, args, cpus, megs, serial, mb2_iso, initrd, socket_per_cpu,
                       cpu_model)
    start = time.monotonic()
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            status = proc.wait(timeout=timeout * timeout_scale())
        except subprocess.TimeoutExpired:
            status = None
        finally:
            _kill_group(proc)
    data = serial.read_bytes() if serial.exists() else b""
    text = data.decode("utf-8", errors="replace").replace("\r", "")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return QemuRun(lines, status, errlog.read_text(errors="replace"), cmd, serial,
                   time.monotonic() - start)


def run_qemu(kernel, args="", cpus=2, megs=128, timeout=60, mb2_iso=False):
    """Boot KERNEL on QEMU TCG (-kernel with ARGS, or from a GRUB ISO if MB2_ISO), with a
    wall-clock TIMEOUT in seconds. Returns (serial lines, QEMU exit status or None on
    timeout)."""
    r = run_qemu_ex(kernel, args, cpus, megs, timeout, mb2_iso)
    return r.lines, r.status


def run_guest(guest):
    """Run a PC_GUESTS entry under QEMU; returns a QemuRun."""
    return run_qemu_ex(guest.path, guest.args, guest.cpus, guest.megs, guest.timeout,
                       guest.mb2, name=guest.name,
                       initrd=guest.initrd and BUILD_PC / guest.initrd,
                       socket_per_cpu=guest.name in SOCKET_PER_CPU)
