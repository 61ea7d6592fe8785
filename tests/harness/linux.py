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
# Emulated instructions per second for Bochs runs (scripts/linux/linux.mk's LINUX_IPS).
BOCHS_IPS = 50000000

# The workload of scripts/linux/init: this line repeated to 64 MiB in tmpfs, then sha256sum.
WORK_LINE = b"eptvisor-linux workload\n"
WORK_BYTES = 64 << 20

# What a kernel log must not have.
BAD = re.compile(r"WARNING:|BUG:|Oops|Call Trace|Kernel panic")


def work_sha256():
    """The checksum the init's workload must print (computed here, not by a guest)."""
    h = hashlib.sha256()
    chunk = WORK_LINE * (1 << 16)
    left = WORK_BYTES
    while left:
        n = min(left, len(chunk))
        h.update(chunk[:n])
        left -= n
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
    want = work_sha256()
    if ans.get("workload") != "sha256 " + want:
        probs.append("workload: %r, expected sha256 %s" % (ans.get("workload"), want))
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
