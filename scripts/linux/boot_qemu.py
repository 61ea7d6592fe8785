#!/usr/bin/env python3
"""Boot the Linux test kernel and initramfs (make linux-pkgs) under plain QEMU TCG, no
eptvisor: the reference a Linux guest under eptvisor is compared with. Passes when the
project's init prints its line, `uname -a` and `nproc`; the init then reboots (QEMU
-no-reboot exits) because eptvisor_end=reboot is on the command line.

  boot_qemu.py [--kernel build/linux/vmlinuz] [--initrd build/linux/initrd.gz] [--timeout 180]
"""

import argparse
import re
import subprocess
import sys
import time

INIT_LINE = "eptvisor-linux: init up"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default="build/linux/vmlinuz")
    ap.add_argument("--initrd", default="build/linux/initrd.gz")
    ap.add_argument("--append", default="console=ttyS0 acpi=off")
    ap.add_argument("--megs", type=int, default=256)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--log", default="build/linux/qemu-tcg.log")
    a = ap.parse_args(argv)
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(a.megs), "-smp", str(a.cpus),
           "-kernel", a.kernel, "-initrd", a.initrd, "-append",
           a.append + " eptvisor_end=reboot", "-nographic", "-no-reboot", "-serial", "mon:stdio"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=a.timeout)
        out, why = p.stdout.decode(errors="replace"), "exit %d" % p.returncode
    except subprocess.TimeoutExpired as e:
        out, why = (e.stdout or b"").decode(errors="replace"), "timeout"
    secs = time.monotonic() - t0
    with open(a.log, "w") as f:
        f.write(out)
    lines = [l.rstrip("\r") for l in out.splitlines()]
    ok = INIT_LINE in lines
    after = lines[lines.index(INIT_LINE) + 1:lines.index(INIT_LINE) + 3] if ok else []
    ok = ok and len(after) == 2 and after[0].startswith("Linux ") and \
        re.fullmatch(r"\d+", after[1]) is not None
    stamp = [l for l in lines if "Run /init as init process" in l]
    print("boot_qemu: %s in %.1f s wall (%s)%s; log %s" % (
        "init up" if ok else "FAILED", secs, why,
        ", guest clock at init: " + stamp[0].split("]")[0].strip("[ ") + " s" if stamp else "",
        a.log))
    for l in ([INIT_LINE] + after if ok else lines[-15:]):
        print("  " + l)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
