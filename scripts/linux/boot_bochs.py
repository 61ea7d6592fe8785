#!/usr/bin/env python3
"""Boot the Linux test kernel and initramfs (make linux-pkgs) under plain Bochs, no eptvisor
(GRUB's `linux`/`initrd` from an ISO, the rig's Bochs settings but for the CPU model): so that
every difference under eptvisor is eptvisor's. The model is Haswell: under the rig's
tigerlake Debian's kernel does not get through its boot (docs/platform.md says what was
tried); --model picks another.

  boot_bochs.py [--cpus 2] [--megs 256] [--ips 50000000] [--model corei7_haswell_4770]
                [--append "console=ttyS0 acpi=off"] [--shell] [--timeout 1800]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "harness"))
import linux  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--append", default=linux.BASE_ARGS)
    ap.add_argument("--megs", type=int, default=256)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--ips", type=int, default=linux.BOCHS_IPS)
    ap.add_argument("--model", default=linux.BOCHS_ALONE_MODEL, help="Bochs CPU model")
    ap.add_argument("--shell", action="store_true", help="stay in the shell (no reboot)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    res = linux.run_bochs_alone(a.cpus, a.megs, a.append, end=not a.shell,
                                timeout=a.timeout, ips=a.ips, model=a.model,
                                echo=None if a.quiet else (lambda l: print(l, flush=True)))
    ans = linux.answers(res.serial)
    probs = linux.check(ans, a.cpus) + linux.bad_lines(res.serial)
    print("boot_bochs: %s in %.1f s wall, guest clock at init %s s; log %s" % (
        "FAILED" if probs else "ok", res.duration, linux.boot_seconds(res.serial),
        res.log_path))
    for k, v in ans.items():
        print("  %s: %s" % (k, v))
    for p in probs[:20]:
        print("  problem: " + p)
    return 1 if probs else 0


if __name__ == "__main__":
    sys.exit(main())
