"""Linux as a guest (issue 16): what the project's init prints, and how a boot is judged.

The initramfs (scripts/linux/mkinitramfs.py) runs scripts/linux/init, which prints lines that
start with "eptvisor-linux: " (MARK): its start, then each probe's answer, then the shell or,
with eptvisor_end=reboot on the kernel command line, a reboot that ends the VM. The same
initramfs runs under QEMU TCG (the reference), plain Bochs and eptvisor; answers() pulls the
answers out of any of their serial logs so they can be compared.

Stdlib only.
"""

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LX = ROOT / "build" / "linux"
KERNEL = LX / "vmlinuz"
INITRD = LX / "initrd.gz"

MARK = "eptvisor-linux: "
INIT_UP = MARK + "init up"
# The kernel command line every platform gets (the serial console, no ACPI tables: the
# platform gives an MP table, docs/platform.md).
BASE_ARGS = "console=ttyS0 acpi=off"
# QEMU's pc gives ACPI tables (SeaBIOS' MP table names one CPU only): the reference keeps ACPI.
QEMU_ARGS = "console=ttyS0"
# Emulated instructions per second for Bochs runs (scripts/linux/linux.mk's LINUX_IPS).
BOCHS_IPS = 50000000

# The workload of scripts/linux/init: this line repeated to a 1 MiB block, the block 64 times
# into a file in tmpfs, then md5sum.
WORK_LINE = b"eptvisor-linux workload\n"
WORK_BLOCK = 1 << 20
WORK_BYTES = 64 << 20

# What a kernel log must not have.
BAD = re.compile(r"WARNING:|BUG:|Oops|Call Trace|Kernel panic")


def work_md5():
    """The checksum the init's workload must print (computed here, not by a guest)."""
    block = (WORK_LINE * (WORK_BLOCK // len(WORK_LINE) + 1))[:WORK_BLOCK]
    h = hashlib.md5()
    for _ in range(WORK_BYTES // WORK_BLOCK):
        h.update(block)
    return h.hexdigest()


def strip_prefix(line):
    """A guest's line as eptvisor relays it ("[guest NAME] text") or as QEMU/Bochs wrote it."""
    line = line.rstrip("\r")
    m = re.match(r"\[guest [^\]]*\] ?(.*)$", line)
    return m.group(1) if m else line


def answers(text):
    """{probe: answer} from the init's lines in a serial log."""
    out = {}
    for line in text.splitlines():
        line = strip_prefix(line)
        i = line.find(MARK)
        if i < 0:
            continue
        body = line[i + len(MARK):]
        key, sep, val = body.partition(": ")
        out[key.strip()] = val.strip() if sep else ""
    return out


def bad_lines(text):
    """Kernel log lines reporting a warning, a bug, an oops or a call trace."""
    return [strip_prefix(l) for l in text.splitlines() if BAD.search(l)]


def check(ans, cpus):
    """Problems with one platform's answers (empty: the boot did what the init asks)."""
    probs = []
    if "init up" not in ans:
        return ["the init never started (no %r line)" % INIT_UP]
    if not ans.get("uname", "").startswith("Linux "):
        probs.append("uname: %r" % ans.get("uname"))
    if ans.get("cpus") != str(cpus):
        probs.append("cpus: %r, expected %d" % (ans.get("cpus"), cpus))
    want = work_md5()
    if ans.get("workload") != "md5 " + want:
        probs.append("workload: %r, expected md5 %s" % (ans.get("workload"), want))
    if "done" not in ans:
        probs.append("the init did not finish its probes (no 'done' line)")
    return probs


def boot_seconds(text):
    """The guest clock when init started ("Run /init as init process"), or None."""
    for line in text.splitlines():
        m = re.search(r"\[\s*(\d+\.\d+)\] Run /init as init process", line)
        if m:
            return float(m.group(1))
    return None


# ---------------------------------------------------------------------------------------------
# the three ways to boot it

def _ev():
    import eptvisor  # here, so scripts/linux/*.py can import this module from anywhere
    return eptvisor


def require_built():
    """Fail the calling test (pytest) unless the kernel, the initramfs and eptvisor exist."""
    import pytest
    ev = _ev()
    for f in (KERNEL, INITRD):
        if not f.exists():
            pytest.fail("%s missing: run `make linux-pkgs`" % f, pytrace=False)
    b = ev.make("kernel")
    if not b.ok:
        pytest.fail("`make kernel` failed:\n" + b.output[-3000:], pytrace=False)


# Linux's line when it starts init: the end of its boot. Under eptvisor, guest_mark= prints
# the VM's exits by reason there (an @json "mark" line).
INIT_LINE = "Run /init as init process"


def exits_at_init(res):
    """The guest VM's exits by reason when Linux printed INIT_LINE ({} if no mark line)."""
    return next((r["exits"] for r in res.json() if r.get("mark") == INIT_LINE), {})


def run_eptvisor(cpus=2, megs=256, args=BASE_ARGS, end=True, timeout=1800, ips=BOCHS_IPS,
                 name="linux-eptvisor", echo=None, host_megs=768, cmdline="guest_budget=30000",
                 serial_input=None, host_cpus=None):
    """Boot the kernel as eptvisor's guest under Bochs (`make linux`'s setup). end: put
    eptvisor_end=reboot on its command line, so the VM ends after the probes. serial_input:
    an eptvisor.SerialConsole (what it sends reaches the guest's ttyS0). host_cpus: Bochs'
    CPUs when not `cpus` (a host task on CPU 0 needs one more). Returns the
    eptvisor Result."""
    ev = _ev()
    guest_args = (args + (" eptvisor_end=reboot" if end else "")).replace('"', "'")
    line = ev.with_platform(
        'run=demo %s guest=vmlinuz guest_initrd=initrd.gz guest_vcpus=%d guest_mem=%dM '
        'guest_args="%s" guest_mark="%s"' % (cmdline, cpus, megs, guest_args, INIT_LINE),
        "bochs")
    iso = ev.make_iso(line, name, modules=[(str(KERNEL), "vmlinuz"), (str(INITRD), "initrd.gz")])
    plat = ev.Bochs(ips=ips)
    return plat.run(iso, line, cpus=host_cpus or cpus, timeout=timeout, megs=host_megs,
                    name=name, echo=echo, serial_input=serial_input)


def bochs_alone_iso(args):
    """A GRUB ISO that boots the kernel and initramfs directly (no eptvisor)."""
    import subprocess
    import tempfile
    iso = LX / "bochs-alone.iso"
    with tempfile.TemporaryDirectory(dir=LX) as tmp:
        root = Path(tmp) / "root"
        (root / "boot" / "grub").mkdir(parents=True)
        for src, dst in ((KERNEL, "vmlinuz"), (INITRD, "initrd.gz")):
            (root / "boot" / dst).write_bytes(src.read_bytes())
        (root / "boot" / "grub" / "grub.cfg").write_text("\n".join([
            "set timeout=0", "set default=0", "terminal_output console",
            'menuentry "linux" {', "  linux /boot/vmlinuz %s" % args,
            "  initrd /boot/initrd.gz", "  boot", "}", ""]))
        p = subprocess.run(["grub-mkrescue", "-o", str(iso), str(root)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace")
        if p.returncode != 0:
            raise RuntimeError("grub-mkrescue failed:\n" + p.stdout[-3000:])
    return iso


# The Bochs CPU model for plain Bochs (docs/platform.md, "Linux as a guest"): under the rig's
# tigerlake model Debian's kernel stops after "LSM: Security Framework initializing" whatever
# kernel options it gets; under Haswell it boots with none. eptvisor runs on tigerlake.
BOCHS_ALONE_MODEL = "corei7_haswell_4770"


def run_bochs_alone(cpus=2, megs=256, args=BASE_ARGS, end=True, timeout=1800, ips=BOCHS_IPS,
                    name="linux-bochs-alone", echo=None, model=BOCHS_ALONE_MODEL):
    """Boot the kernel under plain Bochs through GRUB, the rig's settings but for the CPU
    model. The run ends at the init's "rebooting" line (a plain PC would reboot into GRUB
    again)."""
    ev = _ev()
    full = args + (" eptvisor_end=reboot" if end else "")
    iso = bochs_alone_iso(full)
    plat = ev.Bochs(model=model, ips=ips)

    def stop(line):
        return "the init rebooted" if MARK + "rebooting" in line else None
    return plat.run(iso, full, cpus=cpus, timeout=timeout, megs=megs, name=name, echo=echo,
                    stop_when=stop)


def run_qemu(cpus=2, megs=256, args=QEMU_ARGS, timeout=300, name="linux-qemu"):
    """Boot under plain QEMU TCG (-kernel/-initrd, -no-reboot: the init's reboot ends it).
    Returns (serial text, seconds)."""
    import subprocess
    import time
    out_dir = LX / "runs" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    serial = out_dir / "serial.log"
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(megs), "-smp", str(cpus),
           "-kernel", str(KERNEL), "-initrd", str(INITRD), "-append",
           args + " eptvisor_end=reboot", "-display", "none", "-monitor", "none",
           "-serial", "file:%s" % serial, "-no-reboot"]
    t0 = time.monotonic()
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    return serial.read_text(errors="replace"), time.monotonic() - t0
