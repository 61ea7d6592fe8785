"""The include direction of the rooms (scripts/check_layers.py, `make lint-layers`): no
#include runs against boot -> scenarios -> {pc, hypercall} -> vmx -> ept, the pure rooms
stay pure, the lower services never include a room above them. scripts/layers_allow.txt
lists the violations that are still there; it can only shrink."""

import subprocess
import sys

import eptvisor as ev

SCRIPT = ev.REPO / "scripts" / "check_layers.py"
ALLOW = ev.REPO / "scripts" / "layers_allow.txt"


def _check(*args, root=None):
    cmd = [sys.executable, str(SCRIPT)] + [str(a) for a in args]
    if root is not None:
        cmd += ["--root", str(root)]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=str(ev.REPO), stdin=subprocess.DEVNULL)


def test_include_direction():
    """Every include of the tree runs with the direction, but for the allowlisted ones; and
    every allowlist line still matches an include (delete the lines of what was fixed)."""
    p = _check("--allow", ALLOW)
    assert p.returncode == 0, "scripts/check_layers.py --allow %s:\n%s%s" % (
        ALLOW.relative_to(ev.REPO), p.stdout, p.stderr)


def _tree(tmp_path, files):
    for rel, text in files.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return tmp_path


def test_check_layers_catches_what_it_should(tmp_path):
    """The check itself: an include up the stack, one between siblings and one out of a pure
    room are reported as `file:line: <room>/ must not include <header> (<why>)`; includes
    down the stack and of include/ are not."""
    root = _tree(tmp_path, {
        "include/types.h": "",
        "ept/ept.h": '#include "types.h"\n',
        "vmx/vm.h": '#include "ept/ept.h"\n',
        "pc/pc.h": '#include "vmx/vm.h"\n#include "hypercall/mm.h"\n',
        "hypercall/mm.h": '#include "types.h"\n',
        "vmx/exit.c": '#include "vmx/vm.h"\n#include "pc/pc.h"\n',
        "devices/pit.c": '#include "vmx/vm.h"\n',
    })
    p = _check(root=root)
    assert p.returncode == 1, p.stdout
    lines = [l for l in p.stdout.splitlines() if l]
    assert sorted(lines) == sorted([
        "devices/pit.c:1: devices/ must not include vmx/vm.h "
        "(devices/ is pure: only include/ and devices/)",
        "pc/pc.h:2: pc/ must not include hypercall/mm.h "
        "(pc/ and hypercall/ are siblings: neither includes the other)",
        "vmx/exit.c:2: vmx/ must not include pc/pc.h "
        "(pc/ is above vmx/: boot -> scenarios -> {pc, hypercall} -> vmx -> ept)",
    ]), p.stdout


def test_check_layers_allowlist_only_shrinks(tmp_path):
    """An allowlisted violation passes; an allowlist line that matches nothing fails."""
    root = _tree(tmp_path, {
        "include/types.h": "",
        "pc/pc.h": '#include "types.h"\n',
        "vmx/exit.c": '#include "pc/pc.h"\n',
    })
    allow = tmp_path / "allow.txt"
    allow.write_text("# known\nvmx/exit.c: pc/pc.h\n")
    p = _check("--allow", allow, root=root)
    assert p.returncode == 0, p.stdout
    allow.write_text("vmx/exit.c: pc/pc.h\nvmx/vcpu.c: pc/pc.h\n")
    p = _check("--allow", allow, root=root)
    assert p.returncode == 1 and "allow.txt:2: stale entry `vmx/vcpu.c: pc/pc.h`" in p.stdout, \
        p.stdout


def test_design_doc_shows_the_checked_direction():
    """docs/design.md's layer picture is the one the check enforces (the diagram in
    scripts/check_layers.py's docstring), so the picture cannot drift from the rule."""
    script = (ev.REPO / "scripts" / "check_layers.py").read_text()
    doc = (ev.REPO / "docs" / "design.md").read_text()
    begin, end = "<!-- layers: begin", "<!-- layers: end -->"
    assert begin in doc and end in doc, "docs/design.md lost its layers markers"
    block = doc[doc.index(begin):doc.index(end)]
    pictured = block.split("```")[1].strip("\n")
    docstring = script.split('"""')[1]
    start = docstring.index("    boot/")
    stop = docstring.index("\nA header is found")
    # The docstring escapes its backslashes; the markdown does not.
    checked = docstring[start:stop].replace("\\\\", "\\").strip("\n")
    assert pictured == checked, (
        "docs/design.md's layer picture differs from scripts/check_layers.py's:\n"
        "--- doc\n%s\n--- script\n%s" % (pictured, checked))
