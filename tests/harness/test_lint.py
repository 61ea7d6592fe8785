"""Static checks that `make test` enforces: cppcheck finds nothing (`make lint-cppcheck`, the
same command as `make lint`), clang-format would change no C file or header (`make
format-check`, with the repo's .clang-format), and every for_each_* loop macro is known to
clang-format. scripts/deps.sh installs cppcheck and clang-format; without them these tests
are skipped, saying so."""

import re
import shutil
import subprocess

import pytest

import eptvisor as ev

# cppcheck's finding lines: file:line:column: severity: message [id]
FINDING_RE = re.compile(r"^(\S+?):(\d+):(\d+): (\w+): (.*) \[(\w+)\]$", re.M)


def _make(target, timeout=300):
    cmd = ["make", "--no-print-directory", "-s", "-C", str(ev.REPO), target]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout


def _need(tool):
    if shutil.which(tool) is None:
        pytest.skip("%s is not installed (scripts/deps.sh installs it; `make test` runs "
                    "deps first)" % tool)


def test_cppcheck_clean():
    """`make lint-cppcheck` reports nothing. A finding cppcheck gets wrong is suppressed
    inline (// cppcheck-suppress <id>) with the reason beside it; any other is fixed."""
    _need("cppcheck")
    code, out = _make("lint-cppcheck")
    findings = FINDING_RE.findall(out)
    if code != 0 and not findings:
        pytest.fail("`make lint-cppcheck` failed (exit %d) without a finding line:\n%s"
                    % (code, out[-4000:]), pytrace=False)
    lines = ["%s:%s:%s: %s: %s [%s]" % f for f in findings]
    if lines:
        pytest.fail("cppcheck: %d finding(s):\n%s" % (len(lines), "\n".join(lines)),
                    pytrace=False)
    assert code == 0, out


def test_clang_format_clean():
    """clang-format --dry-run --Werror (the repo's .clang-format) would change no tracked
    C file or header: run `make format` and look at the diff."""
    _need("clang-format")
    code, out = _make("format-check", timeout=600)
    files = sorted({m.group(1) for m in
                    re.finditer(r"^(\S+?):\d+:\d+: (?:error|warning): ", out, re.M)})
    assert code == 0 and not files, "%d file(s) not clang-formatted (make format):\n%s\n%s" % (
        len(files), "\n".join(files), out[-3000:])


def test_clang_format_knows_every_loop_macro():
    """Every `#define for_each_*` of the tree is in .clang-format's ForEachMacros; else
    clang-format takes the loop for a call and squeezes its body onto one line."""
    cfg = (ev.REPO / ".clang-format").read_text()
    m = re.search(r"^ForEachMacros:\s*\[(.*?)\]", cfg, re.M | re.S)
    listed = set(re.findall(r"'([^']+)'", m.group(1))) if m else set()
    files = subprocess.run(["git", "-C", str(ev.REPO), "ls-files", "*.c", "*.h"],
                           stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    defined = {}
    for rel in files:
        try:
            text = (ev.REPO / rel).read_text(errors="replace")
        except OSError:
            continue  # deleted in the working tree
        for name in re.findall(r"^\s*#\s*define\s+(for_each_\w+)\s*\(", text, re.M):
            defined.setdefault(name, rel)
    missing = ["%s (%s)" % (n, f) for n, f in sorted(defined.items()) if n not in listed]
    assert not missing, ".clang-format ForEachMacros lacks: %s" % ", ".join(missing)
