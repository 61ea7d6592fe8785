#!/usr/bin/env python3
"""Pack eptvisor's Linux test initramfs: a gzipped cpio (newc) archive holding /init (the
project's scripts/linux/init), a static busybox as /bin/busybox and the /dev/console node the
kernel opens before init runs. Written here rather than with cpio(1) so that it needs neither
root (for the device node) nor the cpio package.

  mkinitramfs.py --busybox build/linux/root/bin/busybox --init scripts/linux/init -o out.gz
"""

import argparse
import gzip
import stat
import sys


def entry(name, mode, data=b"", rdev=(0, 0), ino=[0]):
    ino[0] += 1
    hdr = "070701" + "".join("%08X" % v for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
    out = hdr.encode() + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    return out + data + b"\0" * (-len(data) % 4)


def archive(init, busybox):
    parts = [entry(d, stat.S_IFDIR | 0o755) for d in ("bin", "dev", "proc", "sys", "tmp")]
    parts.append(entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    parts.append(entry("bin/busybox", stat.S_IFREG | 0o755, busybox))
    parts.append(entry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    parts.append(entry("init", stat.S_IFREG | 0o755, init))
    parts.append(entry("TRAILER!!!", 0))
    return b"".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    with open(a.init, "rb") as f:
        init = f.read()
    with open(a.busybox, "rb") as f:
        busybox = f.read()
    data = archive(init, busybox)
    with open(a.output, "wb") as f:
        f.write(gzip.compress(data, 9, mtime=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
