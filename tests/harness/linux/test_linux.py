"""Linux as a guest (issue 16): Debian's kernel and the project's initramfs (make linux-pkgs)
boot under eptvisor in Bochs with 2 vCPUs and 256 MiB, answer the init's probes (uname -a,
the number of CPUs, a 64 MiB tmpfs workload's md5sum), and end by rebooting, which ends the
VM. The same initramfs under QEMU TCG (the reference) must give the same answers; no kernel
log may report a warning, a bug, an oops or a call trace. (Plain Bochs, `make linux-bochs`,
does not get through Debian's kernel yet: docs/platform.md, "Linux as a guest".)

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


@pytest.fixture(scope="module")
def runs():
    for f in (linux.KERNEL, linux.INITRD):
        if not f.exists():
            pytest.fail("%s missing: run `make linux-pkgs`" % f, pytrace=False)
    b = ev.make("kernel")
    if not b.ok:
        pytest.fail("`make kernel` failed:\n" + b.output[-3000:], pytrace=False)
    # The Bochs boot takes a CPU; QEMU's runs meanwhile.
    with ThreadPoolExecutor(max_workers=1) as ex:
        hv = ex.submit(linux.run_eptvisor, CPUS, MEGS, timeout=TIMEOUT)
        qemu_text, qemu_secs = linux.run_qemu(CPUS, MEGS)
        out = {"eptvisor": hv.result(), "qemu": (qemu_text, qemu_secs)}
    write_report(out)
    return out


def exits_by_reason(res):
    """The guest VM's exits by reason, from its @json report line."""
    for rec in res.json():
        if rec.get("scenario") == "guest" and "exits" in rec:
            return rec["exits"]
    return {}


def write_report(out):
    hv = out["eptvisor"]
    qemu_text, qemu_secs = out["qemu"]
    rep = {
        "cpus": CPUS, "megs": MEGS, "bochs_ips": linux.BOCHS_IPS,
        "eptvisor": {"wall_s": round(hv.duration, 1), "guest_s_at_init":
                     linux.boot_seconds(hv.serial), "answers": linux.answers(hv.serial),
                     "exits": exits_by_reason(hv)},
        "qemu_tcg": {"wall_s": round(qemu_secs, 1), "guest_s_at_init":
                     linux.boot_seconds(qemu_text), "answers": linux.answers(qemu_text)},
    }
    linux.LX.mkdir(parents=True, exist_ok=True)
    (linux.LX / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    md = ["# Linux boot (make test-linux)", "",
          "| platform | wall s (boot to reboot) | guest s at `Run /init` | cpus | workload |",
          "|---|---|---|---|---|"]
    for k in ("eptvisor", "qemu_tcg"):
        r = rep[k]
        md.append("| %s | %s | %s | %s | %s |" % (k, r["wall_s"], r["guest_s_at_init"],
                                                   r["answers"].get("cpus"),
                                                   r["answers"].get("workload", "")[:20]))
    md += ["", "Exits by reason under eptvisor (the whole run):", ""]
    md += ["| reason | exits |", "|---|---|"]
    md += ["| %s | %d |" % kv for kv in sorted(rep["eptvisor"]["exits"].items(),
                                               key=lambda kv: -kv[1])]
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
    by the guest's reboot, with eptvisor's report of it."""
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
    assert not probs, res.failure_report(why=probs)
