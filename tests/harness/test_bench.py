"""The fault-latency benchmark (issue 5), cheaply: a short `run=bench` (16 samples per vCPU
and path, 2 vCPUs on CPUs 1 and 2, the host task on CPU 0) must give a well-formed result for
every path at 1 and 2 vCPUs, each verified by the hypervisor's counters (wp_fast really fixed
on the lockless fast path, under a write-protect dirty log that logged every page), the
*_hostwork paths each judged against their baseline's p99 with the host's work overlapping
them (issue 13), and
tests/harness/bench.py must turn it into the JSON, the table and the plot. The benchmark
itself is `make bench`, which is not part of `make test`.

The host benchmark of the EPT core (`make bench-host`), cheaply too: tests/unit/ept_bench.c
on a 1 GiB guest, 2 runs per record (a few seconds), must give every record with every key
and sane values, and tests/harness/bench_host_report.py must turn it into the table and a
valid PNG."""

import json
import re
import subprocess

import pytest

import bench
import bench_apf
import bench_host_report
import eptvisor as ev
import pngplot
import registry
from eptvisor import BootSpec

SAMPLES = 16
BENCH = BootSpec("bench-smoke", "run=bench samples=%d vcpus=2" % SAMPLES, platform="vmx",
                 cpus=3, megs=512, timeout=120, label="bench")
# The async page-fault benchmark's two scenarios, at the default 2 ms store latency.
BENCH_APF = BootSpec("bench-apf-smoke", "run=bench_apf", platform="vmx", cpus=2, megs=512,
                     timeout=180, label="bench-apf", modules=registry.modules("bench_apf"))
# The hypervisor's verdict on each vCPU's wp_fast measurement (hypercall/bench.c, verify()).
WP_FAST_CHECK = re.compile(r"check bench_fault_latency/host: (ok|FAILED) - bench wp_fast "
                           r"vcpu (\d+): (\d+) accesses: (\d+) EPT_VIOLATION, (\d+) faults "
                           r"\((\d+) fixed_fast\), -?\d+ stray exits, \d+ PML entries, "
                           r"(\d+) logged")


@pytest.mark.boot(BENCH)
def test_bench_results_well_formed(boots, judge, tmp_path):
    """Every path at 1 and 2 vCPUs with the issue's keys, integer cycles in order, the
    platform of this run, the ratios; and the three output files."""
    res = boots.result(BENCH)
    records, ratios, p = bench.check_run(res, SAMPLES, 2)
    for r in records:
        bad = [k for k in bench.KEYS
               if not isinstance(r.get(k), str if k in ("path", "platform") else int)]
        if bad:
            p.append("%s: keys of the wrong type or missing: %s" % (r.get("path"), bad))
    if not p:
        files = bench.write_outputs(tmp_path, records, ratios, {
            "platform": res.platform, "vcpus": 2, "samples": SAMPLES, "warmup": 32,
            "cmdline": res.cmdline, "date": "test"})
        rows = json.loads(files[0].read_text())
        if {(r["path"], r["vcpus"]) for r in rows} != {(r["path"], r["vcpus"]) for r in records}:
            p.append("fault_latency.json does not hold every record")
        md = files[1].read_text()
        if "| wp_fast | 2 |" not in md or "wp_slow/wp_fast" not in md:
            p.append("fault_latency.md lacks the wp_fast row or the ratios:\n" + md)
        if "| wp_fast_hostwork | 2 |" not in md or "| ept_populate_hostwork | 1 |" not in md:
            p.append("fault_latency.md lacks the host-work rows:\n" + md)
        hw = [r for r in rows if r["path"] in bench.HOSTWORK]
        if len(hw) != 4 or not all(isinstance(r.get("met"), bool) for r in hw):
            p.append("fault_latency.json: host-work records without a verdict: %s" % hw)
        if not files[2].read_bytes().startswith(b"\x89PNG"):
            p.append("fault_latency.png is not a PNG")
    judge(res, p)


@pytest.mark.boot(BENCH)
def test_bench_wp_fast_took_the_fast_path(boots, judge):
    """Each vCPU's wp_fast writes were each one EPT violation fixed on the fast path and
    logged in the write-protect dirty log, by the hypervisor's counters (vCPU 0 alone, then
    vCPUs 0 and 1 at once)."""
    res = boots.result(BENCH)
    p = res.problems()
    checks = [m.groups() for m in map(WP_FAST_CHECK.search, res.lines()) if m]
    want = SAMPLES + 32
    if sorted(int(c[1]) for c in checks) != [0, 0, 1]:
        p.append("expected wp_fast verdicts for vCPU 0, 0, 1, got %s" % checks)
    for ok, vcpu, n, exits, faults, fast, logged in checks:
        if ok != "ok" or not int(n) == int(exits) == int(faults) == int(fast) == int(logged) \
                == want:
            p.append("vCPU %s: %s writes, %s EPT violations, %s faults, %s fixed_fast, %s "
                     "logged" % (vcpu, n, exits, faults, fast, logged))
    fast = [r for r in bench.collect(res)[0] if r["path"] == "wp_fast"]
    if len(fast) != 2 or not all(r["verified"] for r in fast):
        p.append("wp_fast records not verified: %s" % fast)
    judge(res, p)


def made_up_records():
    """One well-formed record per path at 1 vCPU (no boot)."""
    base = {"platform": "bochs", "samples": 16, "min": 1, "p50": 2, "p90": 3, "p99": 4,
            "max": 5, "verified": True}
    hostwork = {"baseline_p99": 4, "ratio": 1.0, "goal": 2.0, "met": True, "host_scans": 3,
                "host_harvests": 3}
    return [dict(base, path=p, vcpus=1, **(dict(hostwork, baseline=bench.HOSTWORK[p])
                                          if p in bench.HOSTWORK else {}))
            for p in bench.PATHS]


def test_bench_rejects_unverified_samples():
    """bench.py fails a run whose wp_fast samples the hypervisor could not verify, or that
    lacks a path (no boot: records made up here)."""
    records = made_up_records()
    ratios = [{"vcpus": 1}]
    assert bench.validate(records, ratios, 16, 1, "bochs") == []
    records[bench.PATHS.index("wp_fast")]["verified"] = False
    probs = bench.validate(records, ratios, 16, 1, "bochs")
    assert len(probs) == 1 and "wp_fast" in probs[0] and "do not measure" in probs[0]
    probs = bench.validate(records[:-1], ratios, 16, 1, "bochs")
    assert any("no result for wp_fast_hostwork" in x for x in probs)


def test_bench_scaling_ratio():
    """The contended rows get their p50 over the 1-vCPU p50 (no boot: records made up)."""
    recs = bench.add_scaling([{"path": "ept_populate", "vcpus": 1, "p50": 2000},
                              {"path": "ept_populate", "vcpus": 4, "p50": 3000}])
    assert recs[1]["vs_1_vcpu"] == 1.5 and "vs_1_vcpu" not in recs[0]
    (name, cols, target, verdict), = bench._scaling_rows(recs, 4)
    assert cols == ["1.000", 1.5] and target == "<= 1.3" and verdict == "**missed**"


# ---- bench-host ------------------------------------------------------------------------------

HOST_RUNS = 2
# Every record tests/unit/ept_bench.c must write: (name, leaf).
HOST_RECORDS = (
    [("scan_%s%s" % (d, s), leaf) for leaf in ("4K", "2M") for d in ("uniform", "sparse")
     for s in ("", "_vs_seed", "_read")] +
    [("harvest_%s%%" % p, "4K") for p in ("0.0", "0.1", "1.0", "10.0", "100.0")] +
    [("lock_hold_%s%s" % (k, q), "4K") for k in ("scan", "harvest", "log_enable")
     for q in ("", "_p99", "_mean")] +
    [("split_1g", "1G"), ("collapse_1g", "1G")] +
    [("fault_%s%s%s" % (k, t, q), "4K") for q in ("", "_qs") for t in ("", "_2threads")
     for k in ("fast", "slow")])


def test_bench_host_results_well_formed(tmp_path):
    """A tiny bench-host run (1 GiB guest, 2 runs): every record, every key, quantiles in
    order, the p50s under the old keys, each goal judged consistently; the table has every
    record and the plot is a valid PNG."""
    b = ev.make("build/bench/ept_bench")
    assert b.ok, b.output
    out = tmp_path / "ept_core.json"
    p = subprocess.run([str(ev.BUILD / "bench" / "ept_bench"), "--gib", "1", "--runs",
                        str(HOST_RUNS), str(out)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120 * ev.timeout_scale())
    assert p.returncode == 0, p.stdout[-3000:]
    records = json.loads(out.read_text())
    lines = [json.loads(l[len("@json "):]) for l in p.stdout.splitlines()
             if l.startswith("@json ")]
    assert lines == records, "the @json lines and the JSON file differ"
    probs = bench_host_report.validate(records, runs=HOST_RUNS)
    missing = set(HOST_RECORDS) - {(r.get("name"), r.get("leaf")) for r in records}
    assert not probs and not missing, "\n".join(probs + ["no record %s %s" % m
                                                          for m in sorted(missing)])
    assert {r["goal"] for r in records if r["name"] == "scan_sparse_vs_seed" and
            r["leaf"] == "4K"} == {"ratio >= 10"}
    md, png = bench_host_report.write_report(records, tmp_path, {"date": "test"})
    table = md.read_text()
    for name, leaf in HOST_RECORDS:
        assert "| %s | 1 GiB, %s |" % (name, leaf) in table or \
            "| %s | 4 GiB, %s |" % (name, leaf) in table, name
    assert pngplot.check_png(png.read_bytes()) == []


def test_bench_host_validate_rejects():
    """The schema check fails a record that lost a key, has its quantiles out of order or a
    verdict that contradicts its goal (no run: records made up)."""
    base = {"name": "x", "guest_gib": 1, "leaf": "4K", "runs": 3, "ratio_is": "baseline_ns/ns",
            "goal": "ratio >= 1.5", "goal_op": ">=", "goal_bound": 1.5, "met": True}
    for c, v in (("ns", 10), ("limit_ns", 0), ("baseline_ns", 20), ("ratio", 2.0)):
        base.update({c: v, c + "_min": v, c + "_p50": v, c + "_p90": v, c + "_p99": v})
    assert bench_host_report.validate([base]) == []
    for key in bench_host_report.KEYS:
        r = dict(base)
        del r[key]
        assert bench_host_report.validate([r]), key
    assert bench_host_report.validate([dict(base, ns_p90=9)])
    assert bench_host_report.validate([dict(base, met=False)])
    assert bench_host_report.validate([dict(base, goal=None)])
    assert bench_host_report.validate([base], runs=2)


def test_png_writer_checked():
    """pngplot writes what check_png accepts, and check_png notices a damaged file."""
    c = pngplot.Canvas(40, 20)
    c.text(1, 1, "p50 ok", pngplot.BLACK)
    c.line(0, 19, 39, 0, (255, 0, 0))
    data = c.png()
    assert pngplot.check_png(data) == []
    assert pngplot.check_png(data[:-5])
    assert pngplot.check_png(data[:40] + bytes([data[40] ^ 1]) + data[41:])
def test_bench_hostwork_schema():
    """A *_hostwork record needs its ratio and verdict, and host work that overlapped it: 0
    scans or harvests fail the run, a missed goal does not (no boot: records made up)."""
    records, ratios = made_up_records(), [{"vcpus": 1}]
    i = bench.PATHS.index("ept_populate_hostwork")
    assert bench.validate(records, ratios, 16, 1, "bochs") == []
    records[i].update(p99=20, max=20, ratio=5.0, met=False)
    assert bench.validate(records, ratios, 16, 1, "bochs") == []
    records[i]["met"] = True
    assert any("disagrees" in x for x in bench.validate(records, ratios, 16, 1, "bochs"))
    records[i].update(met=False, host_scans=0)
    assert any("did not overlap" in x for x in bench.validate(records, ratios, 16, 1, "bochs"))
    del records[i]["met"]
    assert any("no host-work ratio" in x for x in bench.validate(records, ratios, 16, 1,
                                                                 "bochs"))
    rows = bench._hostwork_lines(made_up_records(), 1)
    assert any(l.startswith("| wp_fast_hostwork | 1 | 4 | wp_fast | 4 | 1.000 | <= 2.0 | true")
               for l in rows), rows


@pytest.mark.boot(BENCH_APF)
def test_bench_apf_well_formed(boots, judge, tmp_path):
    """tests/harness/bench_apf.py on a short run (2 ms store latency): both scenarios pass,
    the record has every figure (work rates, page-ready latency against L, the pair's cost
    over a null exit), the goal is judged only when L is 20x the fault round trip, and the
    JSON and the table are written."""
    res = boots.result(BENCH_APF)
    rec, p = bench_apf.measure(res, 2000)
    if rec:
        for k in ("work_rate_async", "work_rate_sync", "work_ratio", "ready_latency_p50_us",
                  "ready_latency_p99_us", "pair_over_null_exit", "latency_over_round_trip"):
            if not isinstance(rec.get(k), (int, float)) or rec[k] <= 0:
                p.append("%s missing or not positive: %r" % (k, rec.get(k)))
        if rec["ready_latency_p50_us"] < 2000:
            p.append("a page came ready faster than the store's latency: %s" % rec)
        applies = rec["latency_over_round_trip"] >= bench_apf.LATENCY_FACTOR
        if rec["goal"]["applies"] != applies:
            p.append("the goal's applicability is wrong: %s" % rec["goal"])
        bench_apf.write(tmp_path, rec)
        md = (tmp_path / "async_pf.md").read_text()
        if "work rate async / sync" not in md or "pair / null exit" not in md:
            p.append("async_pf.md lacks the ratios:\n" + md)
        if json.loads((tmp_path / "async_pf.json").read_text()) != rec:
            p.append("async_pf.json does not hold the record")
    judge(res, p)
