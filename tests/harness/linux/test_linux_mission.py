"""The mission under Linux (issue 16 item 6; scenarios/lx_mission.c): Debian's kernel boots
under eptvisor in Bochs with guest_mission= (the host task on CPU 0), a slow store under the top
half of its RAM with a resident limit (guest_store=, guest_resident=) and KVM's interface
(guest_pv=kvm). Its init (scripts/linux/init) runs the 64 MiB tmpfs workload, then again
eptvisor_mission=N times; meanwhile the host task logs Linux's dirty pages in each mode,
scans all its memory for hot / idle / hole pages, splits 2 MiB leaves under it and collapses
them, and the store's reclaim evicts idle pages that come back on refaults, asynchronously
where Linux's own KVM guest code took KVM's async page faults.

Judged on the serial log: one @json line per feature, each having done something; the
workload's checksum right in every round (its memory moved under it and nothing was lost);
Linux's KVM guest code enabled async PF (MSR_KVM_ASYNC_PF_EN as it writes it: the area's
address, enabled, delivery as an interrupt; its area is at the top of RAM, in the store) and
took async page faults (Linux 6.1 takes them in user mode only: the init's user-memory phase
touches its own memory again after the workload file pushed it out); the sum that phase
computes right; a clean kernel log; the VM's verdict a pass.

One Linux boot (about 11 minutes under Bochs): not part of `make test` nor `make test-linux`;
`make test-linux-mission` runs it.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import eptvisor as ev  # noqa: E402
import linux  # noqa: E402

VCPUS = 1  # and the host task: Bochs gets two CPUs
MEGS = 256
ROUNDS = 1  # eptvisor_mission=: workload rounds after the first
# The store under the top half (Linux allocates from the top first, so its workload lands
# there) with half of it resident; a short fetch latency keeps the run within minutes.
CMDLINE = ("guest_budget=30000 guest_mission=%s guest_store=128M guest_resident=64M "
           "store_latency_us=200 guest_pv=kvm")
# guest_mission=: RAM mapped before the mission starts; measured: passed during the first
# workload, after the init's probes (with all RAM in slot 0, Linux maps 100 MiB while booting).
WAIT = "100M"
TIMEOUT = 2400 * ev.timeout_scale()
# The init's user-memory phase (scripts/linux/init, user_memory): the sum of 0 .. 128 Ki - 1.
USER_STRINGS = 131072
USER_SUM = USER_STRINGS * (USER_STRINGS - 1) // 2
# MSR_KVM_ASYNC_PF_EN bits Linux 6.1 sets (devices/kvm_apf.h): enabled, delivery as interrupt.
APF_ENABLED, APF_AS_INT = 1 << 0, 1 << 3


@pytest.fixture(scope="module")
def run():
    linux.require_built()
    return linux.run_eptvisor(VCPUS, MEGS, args=linux.BASE_ARGS + " eptvisor_mission=%d" % ROUNDS,
                              timeout=TIMEOUT, name="linux-mission", cmdline=CMDLINE % WAIT,
                              host_cpus=VCPUS + 1)


def mission(res):
    """{feature: [records]} of the lx_mission @json lines, plus the store's and apf's."""
    out = {}
    for rec in res.json():
        key = rec.get("lx_mission") or ("pc_store" if "pc_store" in rec else
                                        "apf" if "apf" in rec else None)
        if key:
            out.setdefault(key, []).append(rec)
    return out


def test_mission_features(run):
    """Every feature did something under running Linux, with numbers."""
    m, probs = mission(run), []
    start = m.get("start", [{}])[0]
    if not start.get("reached"):
        probs.append("the mission never started: %r" % start)
    modes = {r["mode"]: r for r in m.get("dirty", [])}
    for mode in ("write-protect", "D-bit", "PML"):
        r = modes.get(mode)
        if mode == "PML" and r is None and "PML yes" not in run.serial:
            continue  # no PML on this CPU model ("vmx: ... PML no"): the mission skips it
        if not r or r["error"] or r["dirty_pages"] <= 0:
            probs.append("dirty log %s: %r" % (mode, r))
    idle = m.get("idle", [{}])[0]
    if idle.get("error", 1) or idle.get("hot", 0) <= 0 or idle.get("idle", 0) <= 0:
        probs.append("idle scan: %r" % idle)
    sc = m.get("split_collapse", [{}])[0]
    if sc.get("errors", 1) or sc.get("splits", 0) <= 0 or \
            sc.get("collapses_in_place", 0) + sc.get("collapses_copy", 0) <= 0:
        probs.append("split/collapse: %r" % sc)
    st = m.get("pc_store", [{}])[0]
    if st.get("evictions", 0) <= 0 or st.get("refaults", 0) <= 0:
        probs.append("store: no evictions or refaults: %r" % st)
    apf = m.get("apf", [{}])[0]
    if apf.get("not_present", 0) <= 0 or apf.get("ready", 0) <= 0:
        probs.append("no async refault (page not present / page ready): %r" % apf)
    assert not probs, run.failure_report(why=probs)


def test_linux_enabled_async_pf(run):
    """Linux's KVM guest code found KVM in CPUID and wrote MSR_KVM_ASYNC_PF_EN (and the
    page-ready vector) on every vCPU."""
    rec = mission(run).get("kvm_apf", [{}])[0]
    msrs = rec.get("msrs", [])
    probs = [] if len(msrs) == VCPUS else ["kvm_apf line: %r" % rec]
    for v in msrs:
        en = int(v["async_pf_en"], 16)
        if en & (APF_ENABLED | APF_AS_INT) != APF_ENABLED | APF_AS_INT or en >> 6 == 0 or \
                v["async_pf_int"] < 32:
            probs.append("vCPU %d: MSR_KVM_ASYNC_PF_EN %#x, vector %d" %
                         (v["vcpu"], en, v["async_pf_int"]))
    assert not probs, run.failure_report(why=probs)


def test_workload_intact(run):
    """The workload's checksum is right in every round while its memory moved, the init
    finished, the kernel log is clean and the VM passed."""
    ans, want = linux.answers(run.serial), "md5 " + linux.work_md5()
    probs = linux.check(ans, VCPUS)
    for i in range(1, ROUNDS + 1):
        if ans.get("mission %d" % i) != want:
            probs.append("mission %d: %r, expected %s" % (i, ans.get("mission %d" % i), want))
        if ans.get("mission %d user" % i) != str(USER_SUM):
            probs.append("mission %d user: %r, expected %d" % (i, ans.get("mission %d user" % i),
                                                                 USER_SUM))
    probs += ["kernel log: " + l for l in linux.bad_lines(run.serial)[:10]]
    verdict = [r for r in run.json() if r.get("scenario") == "guest" and "result" in r]
    if not verdict or verdict[0]["result"] != "pass":
        probs.append("the guest VM's verdict: %r" % (verdict[:1],))
    assert not probs, run.failure_report(why=probs)
