#!/usr/bin/env python3
"""Check that every #include of the kernel and guest sources runs with the layer direction.

The rooms of the kernel and the direction in which they may include each other (an arrow
reads "may include"; what a room may include, it may include transitively too):

    boot/                  the entry: command line, options, start-up; may include any room
      |
      v
    scenarios/             the scenario runner, its table and the experiments
      |            \\
      v             v
    pc/          hypercall/    the PC platform; the hypercall ABI (siblings: never each other)
      |             |
      v             v
    vmx/                   the VMX core: VMCS, vCPUs, VMs, exits, PML, tracing
      |
      v
    ept/                   the EPT MMU (pure C, host-tested)

    pure rooms      ept/ devices/ loader/: include only include/ and their own folder;
                    any room may include them
    lower services  arch/ mm/ drivers/ lib/: any kernel room may include them; they include
                    only each other, the pure rooms and include/, never a room above
    include/        shared headers: include only include/
    guests/         guest programs (not the kernel): only include/ and guests/

A header is found as the compiler finds it (-Iinclude -I.): a quoted name first next to the
including file, then in include/, then from the top of the tree; <...> names only in
include/ and the top (anything else is a compiler or system header and is not checked).

Usage: scripts/check_layers.py [--allow FILE] [--root DIR]
Prints one line per violation, `file:line: <folder> must not include <header> (<why>)`,
and exits 1 if there is any. --allow FILE names known violations, one `file: header` a
line (# starts a comment); they are not reported, but an entry that matches no violation
any more is an error of its own, so the list can only shrink: whoever removes a violation
deletes its line.
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The VMX stack, top to bottom: a room may include the rooms after it, never one before.
# pc and hypercall share a rank and may not include each other.
STACK = [("boot",), ("scenarios",), ("pc", "hypercall"), ("vmx",), ("ept",)]
PURE = ("ept", "devices", "loader")
LOWER = ("arch", "mm", "drivers", "lib")
SHARED = "include"
GUESTS = "guests"
ROOMS = {r for rank in STACK for r in rank} | set(PURE) | set(LOWER) | {SHARED, GUESTS}
SOURCE_SUFFIXES = (".c", ".h", ".S")
INCLUDE_DIRS = ("include", ".")  # -Iinclude -I.

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
DIAGRAM = "boot -> scenarios -> {pc, hypercall} -> vmx -> ept"


def rank_of(room):
    for i, rank in enumerate(STACK):
        if room in rank:
            return i
    return None


def why_not(src, dst):
    """None if room src may include a header of room dst, else the reason it may not."""
    if src == dst or dst == SHARED:
        return None
    if src == GUESTS:
        return "guest programs include only include/ and guests/"
    if src == SHARED:
        return "include/ is the bottom: it includes only include/"
    if src in PURE:
        return "%s/ is pure: only include/ and %s/" % (src, src)
    if dst == GUESTS:
        return "guests/ are guest programs, not part of the kernel"
    if dst in PURE:
        return None
    if src in LOWER:
        if dst in LOWER:
            return None
        return ("%s/ is a lower service: only lower services, pure rooms and include/, never "
                "a room above" % src)
    if dst in LOWER:
        return None
    s, d = rank_of(src), rank_of(dst)
    if s == d:
        return "%s/ and %s/ are siblings: neither includes the other" % (src, dst)
    if d < s:
        return "%s/ is above %s/: %s" % (dst, src, DIAGRAM)
    return None


def room_of(rel):
    return rel.split("/", 1)[0] if "/" in rel else None


def sources(root):
    for room in sorted(ROOMS):
        base = root / room
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_SUFFIXES):
                    yield Path(dirpath) / name


def resolve(root, including, kind, name):
    """The header's path relative to ROOT, or None when it is not a file of the tree."""
    dirs = ([including.parent] if kind == '"' else []) + [root / d for d in INCLUDE_DIRS]
    for d in dirs:
        p = (d / name).resolve()
        if p.is_file():
            try:
                return p.relative_to(root).as_posix()
            except ValueError:
                return None
    return None


def violations(root):
    """(file, line number, room, header, why) for every include against the direction."""
    out = []
    for path in sources(root):
        rel = path.relative_to(root).as_posix()
        src = room_of(rel)
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                header = resolve(root, path, m.group(1), m.group(2))
                if header is None:
                    if m.group(1) == '"':
                        out.append((rel, n, src, m.group(2),
                                    "no such header next to the file, in include/ or at the "
                                    "top of the tree"))
                    continue
                dst = room_of(header) or "."
                if dst not in ROOMS:
                    why = "%s is in no room of the layer table (scripts/check_layers.py)" % header
                else:
                    why = why_not(src, dst)
                if why:
                    out.append((rel, n, src, header, why))
    return out


def read_allow(path):
    """[(line number, file, header)] from an allowlist file."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if ":" not in line:
                raise ValueError("%s:%d: expected `file: header`, got %r" % (path, n, line))
            file, header = (s.strip() for s in line.split(":", 1))
            entries.append((n, file, header))
    return entries


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--allow", metavar="FILE",
                    help="known violations, `file: header` a line; a stale line is an error")
    ap.add_argument("--root", default=str(ROOT), help="top of the tree (default: this repo)")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()

    found = violations(root)
    allowed, problems = set(), []
    if args.allow:
        try:
            entries = read_allow(args.allow)
        except (OSError, ValueError) as e:
            print(e, file=sys.stderr)
            return 2
        pairs = {(v[0], v[3]) for v in found}
        for n, file, header in entries:
            if (file, header) in pairs:
                allowed.add((file, header))
            else:
                problems.append("%s:%d: stale entry `%s: %s`: no such include against the "
                                "direction any more; delete the line" % (args.allow, n, file,
                                                                           header))
    bad = [v for v in found if (v[0], v[3]) not in allowed]
    for file, n, room, header, why in bad:
        print("%s:%d: %s/ must not include %s (%s)" % (file, n, room, header, why))
    for p in problems:
        print(p)
    sys.stdout.flush()
    if bad or problems:
        print("check_layers: %d violation(s), %d stale allowlist entr%s (direction: %s)"
              % (len(bad), len(problems), "y" if len(problems) == 1 else "ies", DIAGRAM),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
