#!/usr/bin/env python3
"""Boot the Linux test kernel and initramfs (make linux-pkgs) under plain QEMU TCG, no
eptvisor: the reference a Linux guest under eptvisor is compared with. Passes when the
project's init answers its probes (tests/harness/linux.py); eptvisor_end=reboot on the
command line makes the init reboot, which ends QEMU (-no-reboot).

  boot_qemu.py [--cpus 2] [--megs 256] [--append "console=ttyS0"] [--timeout 300]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "harness"))
import linux  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--append", default=linux.QEMU_ARGS)
    ap.add_argument("--megs", type=int, default=256)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args(argv)
    text, secs = linux.run_qemu(a.cpus, a.megs, a.append, a.timeout)
    ans = linux.answers(text)
    probs = linux.check(ans, a.cpus) + linux.bad_lines(text)
    print("boot_qemu: %s in %.1f s wall, guest clock at init %s s; log %s" % (
        "FAILED" if probs else "ok", secs, linux.boot_seconds(text),
        linux.LX / "runs" / "linux-qemu" / "serial.log"))
    for k, v in ans.items():
        print("  %s: %s" % (k, v))
    for p in probs:
        print("  problem: " + p)
    return 1 if probs else 0


if __name__ == "__main__":
    sys.exit(main())
