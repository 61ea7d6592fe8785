"""The serial console (issue 16, items 2 and 5): Linux under eptvisor in Bochs, its init's
shell on ttyS0 (no eptvisor_end=reboot), and commands TYPED into it through eptvisor's COM1
(Bochs' COM1 on a pty, tests/harness/eptvisor.py SerialConsole; eptvisor forwards what it
receives to the console owner's COM1, pc/console.c): `uname -a`, `nproc`, and
`echo marker-$((6*7))`, whose 42 only the shell evaluating the typed line can print. Then
`reboot -f`, typed too, ends the VM.

Not part of `make test` (a Linux boot takes minutes under Bochs): `make test-linux` runs it.
The make-test-level test of the same input path is the pc_console row of the fidelity group
(tests/harness/test_fidelity.py).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import eptvisor as ev  # noqa: E402
import linux  # noqa: E402

CPUS = 2
MEGS = 256
TIMEOUT = 2400 * ev.timeout_scale()
SHELL_LINE = linux.MARK + "shell on ttyS0"
COMMANDS = "uname -a\nnproc\necho marker-$((6*7))\n"
MARKER = "marker-42"


def typist():
    """What the test types: the commands once the shell is there, reboot -f after the
    marker's answer. Returns the SerialConsole."""
    def respond(line):
        text = linux.strip_prefix(line).strip()
        if text.endswith(SHELL_LINE):
            return COMMANDS
        if text == MARKER:
            return "reboot -f\n"
        return None
    return ev.SerialConsole(respond=respond, pace=0.02)


def after(lines, first):
    """The lines after the first one ending with FIRST (guest prefixes stripped)."""
    for i, l in enumerate(lines):
        if l.endswith(first):
            return lines[i + 1:]
    return []


@pytest.fixture(scope="module")
def run():
    for f in (linux.KERNEL, linux.INITRD):
        if not f.exists():
            pytest.fail("%s missing: run `make linux-pkgs`" % f, pytrace=False)
    b = ev.make("kernel")
    if not b.ok:
        pytest.fail("`make kernel` failed:\n" + b.output[-3000:], pytrace=False)
    con = typist()
    res = linux.run_eptvisor(CPUS, MEGS, end=False, timeout=TIMEOUT, name="linux-console",
                             serial_input=con)
    return res, con


def test_typed_commands_answered(run):
    """Each typed command's answer comes back on ttyS0, after the shell's line: a `Linux `
    line (uname -a), the vCPU count (nproc), marker-42 (the shell's arithmetic on our
    line); the typed reboot -f ends the VM and eptvisor shuts down."""
    res, con = run
    lines = [linux.strip_prefix(l).strip() for l in res.serial.splitlines()]
    shell = after(lines, SHELL_LINE)
    probs = []
    if not any(l.endswith(SHELL_LINE) for l in lines):
        probs.append("the init never reached its shell (no %r line)" % SHELL_LINE)
    if not bytes(con.sent).startswith(COMMANDS.encode()):
        probs.append("the commands were not all sent: %r" % bytes(con.sent))
    if not any(l.startswith("Linux ") for l in shell):
        probs.append("no `uname -a` answer (a line starting 'Linux ') after the shell's line")
    if str(CPUS) not in shell:
        probs.append("no `nproc` answer %r after the shell's line" % str(CPUS))
    if MARKER not in shell:
        probs.append("no %r line: the typed echo was not evaluated" % MARKER)
    if not bytes(con.sent).endswith(b"reboot -f\n"):
        probs.append("reboot -f was not typed")
    if not res.lines_matching(r"^pc: VM 'guest': console: \d+ byte\(s\) of input forwarded"):
        probs.append("eptvisor did not report the console input it forwarded")
    if not res.reached_shutdown():
        probs.append("eptvisor did not shut down after the typed reboot -f")
    probs += ["kernel log: " + l for l in linux.bad_lines(res.serial)[:10]]
    assert not probs, res.failure_report(why=probs)
