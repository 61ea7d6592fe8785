"""Linux as a guest (issue 16): Debian's kernel and the project's initramfs (make linux-pkgs)
boot under eptvisor in Bochs with 2 vCPUs and 256 MiB, answer the init's probes (uname -a,
the number of CPUs, a 64 MiB tmpfs workload's md5sum) and start a shell on ttyS0; commands
TYPED into it through the serial console (Bochs' COM1 on a pty, tests/harness/eptvisor.py
SerialConsole; eptvisor forwards what its COM1 receives to the console VM, pc/console.c) get
their answers: `uname -a`, `nproc`, `echo marker-$((6*7))` (whose 42 only the shell evaluating
the typed line can print); the typed `reboot -f` ends the VM. One boot serves every test here. The same initramfs under QEMU TCG (the reference) must give the same answers; no kernel
log may report a warning, a bug, an oops or a call trace. Plain Bochs (`make linux-bochs`,
the Haswell CPU model: docs/platform.md, "Linux as a guest") must give the same answers.

Not part of `make test` (a Linux boot takes minutes under Bochs): `make test-linux` runs
this, and .ci/run runs both. It writes build/linux/report.{json,md}: the boot time, the
exits by reason during the boot, and each platform's answers.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import eptvisor as ev  # noqa: E402
import linux  # noqa: E402

CPUS = 2
MEGS = 256
TIMEOUT = 2400 * ev.timeout_scale()


SHELL_LINE = linux.MARK + "shell on ttyS0"
SHELL_BANNER = "Enter 'help' for a list of built-in commands."
COMMANDS = ["uname -a\n", "nproc\n", "echo marker-$((6*7))\n", "reboot -f\n"]
MARKER = "marker-42"


def typist():
    """What the test types, one command at a time, each after the previous one's answer
    (typed ahead, the tty's echo would interleave with the answers): `uname -a` once the
    shell's banner is out, `nproc` after the `Linux ` line, the echo after the vCPU count,
    reboot -f after the marker. Returns the SerialConsole."""
    # (what the line must satisfy, what to type then), in order, each once
    steps = [(lambda t: t.endswith(SHELL_BANNER), COMMANDS[0]),
             (lambda t: t.startswith("Linux "), COMMANDS[1]),
             (lambda t: t == str(CPUS), COMMANDS[2]),
             (lambda t: t == MARKER, COMMANDS[3])]

    def respond(line):
        if steps and steps[0][0](linux.strip_prefix(line).strip()):
            return steps.pop(0)[1]
        return None
    return ev.SerialConsole(respond=respond, pace=0.02)


def after(lines, first):
    """The lines after the first one ending with FIRST (guest prefixes stripped)."""
    for i, l in enumerate(lines):
        if l.endswith(first):
            return lines[i + 1:]
    return []


@pytest.fixture(scope="module")
def runs():
    linux.require_built()
    con = typist()
    # The two Bochs boots take a CPU each; QEMU's runs meanwhile.
    with ThreadPoolExecutor(max_workers=2) as ex:
        hv = ex.submit(linux.run_eptvisor, CPUS, MEGS, end=False, timeout=TIMEOUT,
                       serial_input=con)
        alone = ex.submit(linux.run_bochs_alone, CPUS, MEGS, timeout=TIMEOUT)
        qemu_text, qemu_secs = linux.run_qemu(CPUS, MEGS)
        out = {"eptvisor": hv.result(), "bochs": alone.result(),
               "qemu": (qemu_text, qemu_secs), "console": con}
    write_report(out)
    return out


def exits_by_reason(res):
    """The guest VM's exits by reason, from its @json report line at its end (not the
    guest_mark line, which also names the scenario)."""
    for rec in res.json():
        if rec.get("scenario") == "guest" and "result" in rec and "exits" in rec:
            return rec["exits"]
    return {}


def write_report(out):
    hv, alone = out["eptvisor"], out["bochs"]
    qemu_text, qemu_secs = out["qemu"]
    rep = {
        "cpus": CPUS, "megs": MEGS, "bochs_ips": linux.BOCHS_IPS,
        "eptvisor": {"wall_s": round(hv.duration, 1), "guest_s_at_init":
                     linux.boot_seconds(hv.serial), "answers": linux.answers(hv.serial),
                     "exits_boot": linux.exits_at_init(hv), "exits": exits_by_reason(hv)},
        "bochs_alone": {"wall_s": round(alone.duration, 1), "guest_s_at_init":
                        linux.boot_seconds(alone.serial), "answers": linux.answers(alone.serial),
                        "model": linux.BOCHS_ALONE_MODEL},
        "qemu_tcg": {"wall_s": round(qemu_secs, 1), "guest_s_at_init":
                     linux.boot_seconds(qemu_text), "answers": linux.answers(qemu_text)},
    }
    linux.LX.mkdir(parents=True, exist_ok=True)
    (linux.LX / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    md = ["# Linux boot (make test-linux)", "",
          "| platform | wall s (boot to reboot) | guest s at `Run /init` | cpus | workload |",
          "|---|---|---|---|---|"]
    for k in ("eptvisor", "bochs_alone", "qemu_tcg"):
        r = rep[k]
        md.append("| %s | %s | %s | %s | %s |" % (k, r["wall_s"], r["guest_s_at_init"],
                                                   r["answers"].get("cpus"),
                                                   r["answers"].get("workload", "")[:20]))
    boot, run = rep["eptvisor"]["exits_boot"], rep["eptvisor"]["exits"]
    md += ["", "Exits by reason under eptvisor: during the boot (up to `%s`) and in the "
           "whole run (probes, workload, typed commands, reboot):" % linux.INIT_LINE, ""]
    md += ["| reason | boot | whole run |", "|---|---|---|"]
    md += ["| %s | %d | %d |" % (k, boot.get(k, 0), n)
           for k, n in sorted(run.items(), key=lambda kv: -kv[1])]
    md += ["| all | %d | %d |" % (sum(boot.values()), sum(run.values()))]
    (linux.LX / "report.md").write_text("\n".join(md) + "\n")


def kernel_log_problems(text):
    bad = linux.bad_lines(text)
    return ["kernel log: " + l for l in bad[:10]]


def test_qemu_reference(runs):
    """The initramfs under QEMU TCG answers every probe (the reference is sane)."""
    text, _ = runs["qemu"]
    assert not linux.check(linux.answers(text), CPUS) + kernel_log_problems(text), text[-3000:]


def test_eptvisor_boots_linux(runs):
    """Under eptvisor: every probe answered, as under QEMU; a clean kernel log; the VM ended
    (by the typed reboot), with eptvisor's report of it."""
    res = runs["eptvisor"]
    ans = linux.answers(res.serial)
    probs = linux.check(ans, CPUS) + kernel_log_problems(res.serial)
    qemu = linux.answers(runs["qemu"][0])
    for k in ("uname", "cpus", "workload"):
        if ans.get(k) != qemu.get(k):
            probs.append("%s: %r under eptvisor, %r under QEMU" % (k, ans.get(k), qemu.get(k)))
    if not res.reached_shutdown():
        probs.append("eptvisor did not shut down after the VM ended")
    if not exits_by_reason(res):
        probs.append("no exits-by-reason report for the guest VM")
    boot = linux.exits_at_init(res)
    if not boot or sum(boot.values()) >= sum(exits_by_reason(res).values()):
        probs.append("no exits-by-reason at %r before the end: %r" % (linux.INIT_LINE, boot))
    assert not probs, res.failure_report(why=probs)


def test_typed_commands_answered(runs):
    """Each typed command's answer comes back on ttyS0, after the shell's line: a `Linux `
    line (uname -a), the vCPU count (nproc), marker-42 (the shell's arithmetic on our
    line); the typed reboot -f ends the VM and eptvisor shuts down."""
    res, con = runs["eptvisor"], runs["console"]
    lines = [linux.strip_prefix(l).strip() for l in res.serial.splitlines()]
    shell = after(lines, SHELL_LINE)
    probs = []
    if not any(l.endswith(SHELL_LINE) for l in lines):
        probs.append("the init never reached its shell (no %r line)" % SHELL_LINE)
    if bytes(con.sent) != "".join(COMMANDS).encode():
        probs.append("not every command was typed, in order: %r" % bytes(con.sent))
    if not any(l.startswith("Linux ") for l in shell):
        probs.append("no `uname -a` answer (a line starting 'Linux ') after the shell's line")
    if str(CPUS) not in shell:
        probs.append("no `nproc` answer %r after the shell's line" % str(CPUS))
    if MARKER not in shell:
        probs.append("no %r line: the typed echo was not evaluated" % MARKER)
    if not res.lines_matching(r"^pc: VM 'guest': console: \d+ byte\(s\) of input forwarded"):
        probs.append("eptvisor did not report the console input it forwarded")
    if not res.reached_shutdown():
        probs.append("eptvisor did not shut down after the typed reboot -f")
    probs += ["kernel log: " + l for l in linux.bad_lines(res.serial)[:10]]
    assert not probs, res.failure_report(why=probs)


def test_bochs_alone_boots_linux(runs):
    """Under plain Bochs (no eptvisor; the Haswell CPU model): the same answers as under QEMU,
    a clean kernel log."""
    res = runs["bochs"]
    ans = linux.answers(res.serial)
    probs = linux.check(ans, CPUS) + kernel_log_problems(res.serial)
    qemu = linux.answers(runs["qemu"][0])
    for k in ("uname", "cpus", "workload"):
        if ans.get(k) != qemu.get(k):
            probs.append("%s: %r under Bochs, %r under QEMU" % (k, ans.get(k), qemu.get(k)))
    assert not probs, "\n".join(probs) + "\n--- serial tail ---\n" + \
        "\n".join(res.serial.splitlines()[-40:])
