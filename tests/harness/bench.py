#!/usr/bin/env python3
"""The fault-latency benchmark (`make bench`; issue 5, docs/benchmarks.md).

Builds the kernel, boots `run=bench` on the best VMX platform (nested KVM where usable, else
Bochs), judges the run, and writes, for that one platform:

  build/bench/fault_latency.json  one record per path and vCPU count: path, vcpus, samples,
                                  min, p50, p90, p99, max, platform (+ what else was measured)
  build/bench/fault_latency.md    the table, the ratios against the targets, the paths
                                  measured while the host scans and harvests (p99 against
                                  the same path without), what the cycles mean here
  build/bench/fault_latency.png   the latency distribution of every path (matplotlib)

The benchmark fails loudly (exit status 1, no output files) when the run did not pass: a
sample that did not take the path it is named for (e.g. a wp_fast write fault fixed on the
slow path) fails its hypervisor check, hence its scenario, hence this script.

    tests/harness/bench.py [--samples 500] [--cpus 4] [--platform bochs] [--out DIR]

--cpus is the vCPU count; the machine gets one CPU more, for the host task on CPU 0.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eptvisor as ev  # noqa: E402

# In the order the guest measures them (include/bench.h, enum bench_path).
PATHS = ["tsc_overhead", "null_exit", "cpuid_exit", "ept_populate", "wp_fast", "wp_slow",
         "pml_write", "split_fault", "collapse", "ept_populate_hostwork", "wp_fast_hostwork"]
MAIN_SCENARIO = "bench_fault_latency"
PML_PATHS = {"pml_write"}  # measured in their own VM (bench_pml_write): may be SKIPped
KEYS = ("path", "vcpus", "samples", "min", "p50", "p90", "p99", "max", "platform")
RATIOS = ["wp_fast/null_exit", "wp_slow/wp_fast", "ept_populate/null_exit"]
# (ratio, comparison, bound, which vCPU count it is judged at: "all" = the contended one)
TARGETS = [("wp_fast/null_exit", "<=", 1.15, "every"), ("wp_slow/wp_fast", ">=", 2.5, "every")]
# A path's p50 with every vCPU at once over its p50 alone ("vs_1_vcpu" in the records of the
# contended rows): (path, bound). Populates should not serialise.
SCALING = [("ept_populate", 1.3)]
# Paths measured while the host task on CPU 0 scans and harvests a large slot, each judged
# by its p99 over the same path's p99 without host work (same run and vCPU count):
# {path: baseline}; the goal (issue 13) is <= HOSTWORK_GOAL.
HOSTWORK = {"ept_populate_hostwork": "ept_populate", "wp_fast_hostwork": "wp_fast"}
HOSTWORK_GOAL = 2.0
MAX_VCPUS = 7  # include/layout.h MAX_CPUS (8), less CPU 0 for the host task
HOSTWORK_KEYS = ("baseline", "baseline_p99", "ratio", "goal", "met", "host_scans",
                 "host_harvests")

MEANING = {
    "bochs": "Bochs with `clock: sync=none`: the TSC follows executed instructions, so these "
             "cycles are path lengths (instructions executed, in steps of 5 when Bochs runs "
             "more than one CPU), not hardware latencies. A VM exit or entry itself costs "
             "next to nothing here; the numbers count the hypervisor's own instructions.",
    "kvm": "nested KVM: real TSC cycles of the nested (L1) hypervisor, including the L0 "
           "hypervisor's work on every exit; latencies of this machine, not of bare metal.",
}

DESCRIPTION = {
    "tsc_overhead": "LFENCE;RDTSC;LFENCE twice, nothing between (subtracted from the others)",
    "null_exit": "VMCALL HC_NOP: exit, dispatch, resume (the floor every fault pays)",
    "cpuid_exit": "CPUID leaf 0: a second exit floor",
    "ept_populate": "first write to an unbacked gfn: allocate, zero, map a 4K page",
    "wp_fast": "write to a page under a write-protect dirty log: W restored by cmpxchg, "
               "page logged dirty, no lock",
    "wp_slow": "the same write, ept->force_slow: fixed (and logged) under the MMU lock",
    "pml_write": "first write to a page under PML dirty logging (no exit expected)",
    "split_fault": "hypervisor-timed: eager split of one 2M leaf into 512 4K leaves",
    "collapse": "hypervisor-timed: collapse of 512 4K leaves into one 2M leaf, in place",
    "ept_populate_hostwork": "ept_populate while the host task on CPU 0 scans (clearing A) "
                             "and harvests a WP log over a 4K-mapped slot, round after round",
    "wp_fast_hostwork": "wp_fast while the host task on CPU 0 scans and harvests the same "
                        "slot",
}


def default_cpus(platform):
    """All vCPUs at once: 4 under Bochs (emulated CPUs cost only time); under KVM no more
    than the host has beside the host task's CPU, or they would take turns instead of
    contending."""
    if platform.name == "kvm":
        return max(1, min(4, (os.cpu_count() or 2) - 1))
    return 4


def collect(res):
    """(records, ratios) from the run's @json lines: one record per bench line, with its
    distribution ("cdf") and its ratios ("vs_null_exit", "vs_wp_fast") merged in; a
    *_hostwork record also gets its bench_hostwork line's judgement (HOSTWORK_KEYS)."""
    cdfs, records, ratios, hostwork = {}, [], [], {}
    for o in res.json():
        if "bench_cdf" in o:
            cdfs[(o["scenario"], o["bench_cdf"], o["vcpus"])] = o
        elif o.get("bench") == "fault_latency":
            # The PML VM measures its own tsc_overhead (subtracted from pml_write, shown in
            # that record's "overhead"); one tsc_overhead row per vCPU count is enough.
            if not (o["path"] == "tsc_overhead" and o["scenario"] != MAIN_SCENARIO):
                records.append(dict(o))
        elif "bench_ratios" in o:
            ratios.append(o)
        elif "bench_hostwork" in o:
            hostwork[(o["scenario"], o["path"], o["vcpus"])] = o
    for r in records:
        h = hostwork.get((r["scenario"], r["path"], r["vcpus"]))
        if h:
            r.update({k: h[k] for k in HOSTWORK_KEYS if k in h})
        c = cdfs.get((r["scenario"], r["path"], r["vcpus"]))
        if c:
            r["cdf_step_per_mille"] = c["step_per_mille"]
            r["cdf"] = c["q"]
        for ratio in ratios:
            if ratio["vcpus"] == r["vcpus"] and ratio["scenario"] == r["scenario"]:
                for name in RATIOS:
                    num, den = name.split("/")
                    if num == r["path"] and ratio.get(name) is not None:
                        r["vs_" + den] = ratio[name]
    return records, ratios


def validate(records, ratios, samples, vcpus, platform, pml_skipped=False):
    """Everything that makes these results untrustworthy, as sentences (empty: fine)."""
    p = []
    want_vcpus = sorted({1, vcpus})
    seen = {(r["path"], r["vcpus"]) for r in records}
    for path in PATHS:
        if path in PML_PATHS and pml_skipped:
            continue
        for n in want_vcpus:
            if (path, n) not in seen:
                p.append("no result for %s with %d vCPU(s)" % (path, n))
    for r in records:
        where = "%s (%d vCPUs)" % (r.get("path"), r.get("vcpus", 0))
        missing = [k for k in KEYS if k not in r]
        if missing:
            p.append("%s: keys missing: %s" % (where, ", ".join(missing)))
            continue
        if r["platform"] != platform:
            p.append("%s: platform %r in a %r run" % (where, r["platform"], platform))
        if not r.get("verified"):
            p.append("%s: the hypervisor's counters say not every sample took this path "
                     "(see the failed checks): these numbers do not measure %s"
                     % (where, r["path"]))
        if r["samples"] != samples * r["vcpus"]:
            p.append("%s: %d samples, expected %d" % (where, r["samples"], samples * r["vcpus"]))
        if not r["min"] <= r["p50"] <= r["p90"] <= r["p99"] <= r["max"]:
            p.append("%s: percentiles out of order: %s" % (where, r))
        if r["path"] in HOSTWORK:
            p += hostwork_problems(r, where)
    for n in want_vcpus:
        if not [x for x in ratios if x["vcpus"] == n]:
            p.append("no ratios line for %d vCPU(s)" % n)
    return p


def hostwork_problems(r, where):
    """What is wrong with a *_hostwork record's judgement (a missed goal is not wrong)."""
    missing = [k for k in HOSTWORK_KEYS if k not in r]
    if missing:
        return ["%s: no host-work ratio (%s missing)" % (where, ", ".join(missing))]
    p = []
    if r["baseline"] != HOSTWORK[r["path"]]:
        p.append("%s: judged against %s, not %s" % (where, r["baseline"], HOSTWORK[r["path"]]))
    if not r["host_scans"] or not r["host_harvests"]:
        p.append("%s: the host task completed %s scans and %s harvests during the "
                 "measurement: the host work did not overlap it" % (where, r["host_scans"],
                                                                    r["host_harvests"]))
    if not isinstance(r["met"], bool) or r["goal"] != HOSTWORK_GOAL:
        p.append("%s: met %r, goal %r (want a boolean, %s)" % (where, r["met"], r["goal"],
                                                              HOSTWORK_GOAL))
    elif r["met"] != (r["ratio"] is not None and r["ratio"] <= r["goal"] and
                      bool(r["host_scans"] and r["host_harvests"])):
        p.append("%s: met %r disagrees with ratio %r" % (where, r["met"], r["ratio"]))
    return p


def run_bench(platform, samples, cpus, timeout, echo=None):
    """cpus vCPUs on CPUs 1..cpus; CPU 0 runs the host task of the *_hostwork paths."""
    cmdline = "run=bench samples=%d vcpus=%d" % (samples, cpus)
    return ev.boot(platform, cmdline, "bench", cpus=cpus + 1, megs=512, timeout=timeout,
                   echo=echo)


def pml_was_skipped(res):
    return any(t.name == "bench_pml_write" and t.skip for t in res.tap())


def check_run(res, samples, vcpus):
    """(records, ratios, problems) of one finished run."""
    p = res.problems() + ev.json_platform_problems(res)
    p += ["failed check: " + l.strip() for l in res.lines_matching(r"^\s*check .*: FAILED")][:10]
    records, ratios = collect(res)
    p += validate(records, ratios, samples, vcpus, res.platform, pml_was_skipped(res))
    return records, ratios, p


# ---- output ------------------------------------------------------------------------------

def _fmt(v):
    return "%.3f" % v if isinstance(v, float) else ("–" if v is None else str(v))


def _target_rows(ratios, vcpus):
    by_n = {r["vcpus"]: r for r in ratios}
    rows = []
    for name in RATIOS:
        cols = [by_n.get(n, {}).get(name) for n in sorted({1, vcpus})]
        target, verdict = "", ""
        for tname, op, bound, at in TARGETS:
            if tname != name:
                continue
            target = "%s %s%s" % (op, bound, " (all vCPUs contending)" if at == "all" else
                                  " (each vCPU count)")
            judged = cols if at == "every" else [by_n.get(vcpus, {}).get(name)]
            ok = [v is not None and (v <= bound if op == "<=" else v >= bound) for v in judged]
            verdict = "met" if all(ok) else "**missed**"
        rows.append((name, cols, target, verdict))
    return rows


def add_scaling(records):
    """Give each contended record "vs_1_vcpu": its p50 over the same path's p50 alone."""
    alone = {r["path"]: r["p50"] for r in records if r["vcpus"] == 1}
    for r in records:
        if r["vcpus"] > 1 and alone.get(r["path"]):
            r["vs_1_vcpu"] = round(r["p50"] / alone[r["path"]], 3)
    return records


def _scaling_rows(records, vcpus):
    rows = []
    for path, bound in SCALING:
        v = next((r.get("vs_1_vcpu") for r in records
                  if r["path"] == path and r["vcpus"] == vcpus), None)
        cols = ["1.000" if v is not None else None] + ([v] if vcpus > 1 else [])
        verdict = "met" if v is not None and v <= bound else "**missed**"
        rows.append(("%s p50 / its 1-vCPU p50" % path, cols, "<= %s" % bound,
                     verdict if vcpus > 1 else ""))
    return rows


def _hostwork_lines(records, vcpus):
    """The table of the *_hostwork paths: p99 with the host's work over p99 without."""
    rows = [r for r in records if r["path"] in HOSTWORK]
    if not rows:
        return []
    lines = ["", "## While the host scans and harvests a large slot on CPU 0 (p99), same run",
             "", "| path | vCPUs | p99 | baseline | baseline p99 | ratio | goal | met | host "
             "scans | host harvests |", "|---|---:|---:|---|---:|---:|---|---|---:|---:|"]
    order = {p: i for i, p in enumerate(PATHS)}
    for r in sorted(rows, key=lambda r: (order.get(r["path"], 99), r["vcpus"])):
        lines.append("| %s | %d | %d | %s | %s | %s | <= %s | %s | %s | %s |" % (
            r["path"], r["vcpus"], r["p99"], r.get("baseline", "?"), r.get("baseline_p99", "?"),
            _fmt(r.get("ratio")), r.get("goal", HOSTWORK_GOAL),
            "true" if r.get("met") else "**false**", r.get("host_scans", "?"),
            r.get("host_harvests", "?")))
    lines += ["", "`host scans` / `host harvests`: the host task's rounds that completed during "
              "the measurement, the fewest of any vCPU (0 would mean no overlap, and fails the "
              "run). The baseline is the same path without host work in the same run."]
    return lines


def write_md(path, records, ratios, meta):
    vcpus, plat = meta["vcpus"], meta["platform"]
    guest_oh = [r for r in records if r["path"] == "tsc_overhead" and r["vcpus"] == 1]
    hv = [r for r in records if r.get("timed_by") == "hypervisor"]
    lines = [
        "# Fault-path latency on `%s`" % plat,
        "",
        "`make bench`, %s: %d samples per vCPU and path after %d warm-up ones, 1 vCPU and "
        "%d vCPUs at once (the other vCPUs wait in the guest during the 1-vCPU rows); "
        "kernel command line `%s`." % (meta["date"], meta["samples"], meta["warmup"], vcpus,
                                     meta["cmdline"]),
        "",
        "**What a cycle is here:** %s" % MEANING.get(plat, "TSC cycles of platform %s." % plat),
        "",
        "Cycles after subtracting the measurement's own cost: the guest's TSC pair "
        "(`tsc_overhead`, median %s cycles, itself shown raw) for guest-timed paths, the "
        "hypervisor's RDTSC pair (%s cycles) for split and collapse. All numbers come from "
        "one run on one platform." % (guest_oh[0]["p50"] if guest_oh else "?",
                                      hv[0]["overhead"] if hv else "?"),
        "",
        "| path | vCPUs | samples | min | p50 | p90 | p99 | max | timed by | exits | what |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    order = {p: i for i, p in enumerate(PATHS)}
    for r in sorted(records, key=lambda r: (order.get(r["path"], 99), r["vcpus"])):
        lines.append("| %s | %d | %d | %d | %d | %d | %d | %d | %s | %d | %s |" % (
            r["path"], r["vcpus"], r["samples"], r["min"], r["p50"], r["p90"], r["p99"],
            r["max"], r.get("timed_by", "?"), r.get("exits", 0),
            DESCRIPTION.get(r["path"], "")))
    lines += ["", "`exits`: VM exits during the measurement, all vCPUs (split and collapse: two "
              "hypercalls per sample). `pml_write` expects none."]
    pml = [r for r in records if r["path"] == "pml_write"]
    for r in pml:
        if r.get("exits"):
            lines.append("**pml_write with %d vCPU(s): %d exit(s) occurred** (%d PML-log-full, "
                         "%d kicks): those samples include an exit."
                         % (r["vcpus"], r["exits"], r.get("pml_full", 0), r.get("interrupts", 0)))
    if not pml:
        lines.append("pml_write: not measured (this CPU has no PML or no EPT A/D).")
    ns = sorted({1, vcpus})
    lines += ["", "## Ratios of medians (p50), same run", "",
              "| ratio | " + " | ".join("%d vCPU%s" % (n, "s" if n > 1 else "") for n in ns) +
              " | target | |", "|---|" + "---:|" * len(ns) + "---|---|"]
    for name, cols, target, verdict in _target_rows(ratios, vcpus) + _scaling_rows(records,
                                                                                    vcpus):
        lines.append("| %s | %s | %s | %s |" % (name, " | ".join(_fmt(c) for c in cols),
                                               target or "–", verdict))
    lines += _hostwork_lines(records, vcpus)
    lines += ["", "Plot: `fault_latency.png` (distribution of every path, one panel per vCPU "
              "count). How to read both: docs/benchmarks.md.", ""]
    Path(path).write_text("\n".join(lines))


def write_png(path, records, meta):
    """One panel per vCPU count: each path's distribution (the share of samples at or below
    a cycle count, log scale) with its median marked; one colour per path in every panel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["vcpus"] for r in records})
    fig, axes = plt.subplots(1, len(ns), figsize=(7 * len(ns), 6), squeeze=False,
                             sharex=True, sharey=True)
    colour = {p: plt.cm.tab20(i % 20) for i, p in enumerate(PATHS)}
    handles = {}
    for ax, n in zip(axes[0], ns):
        for r in [r for r in records if r["vcpus"] == n and r.get("cdf")]:
            step = r.get("cdf_step_per_mille", 20) / 10.0
            ys = [i * step for i in range(len(r["cdf"]))]
            xs = [max(1, v) for v in r["cdf"]]  # log axis: 0 cycles drawn at 1
            line, = ax.step(xs, ys, where="post", color=colour.get(r["path"]),
                            linestyle="--" if r["path"] in HOSTWORK else "-")
            ax.plot([max(1, r["p50"])], [50], "o", color=colour.get(r["path"]), ms=4)
            handles[r["path"]] = line
        ax.set_xscale("log")
        ax.set_title("%d vCPU%s" % (n, "s faulting at once" if n > 1 else " alone"))
        ax.set_xlabel("cycles per sample (log scale; dot = median)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("% of samples at or below")
    order = [p for p in PATHS if p in handles]
    fig.legend([handles[p] for p in order], order, loc="lower center", ncol=min(6, len(order)))
    what = "path length (instructions)" if meta["platform"] == "bochs" else "TSC cycles"
    fig.suptitle("eptvisor fault-path latency on %s: %s, %d samples per vCPU and path"
                 % (meta["platform"], what, meta["samples"]))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out, records, ratios, meta):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = add_scaling([dict(r) for r in records])
    rows = [dict(r, unit="cycles", meaning=MEANING.get(meta["platform"], "")) for r in records]
    (out / "fault_latency.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_md(out / "fault_latency.md", records, ratios, meta)
    write_png(out / "fault_latency.png", records, meta)
    return [out / n for n in ("fault_latency.json", "fault_latency.md", "fault_latency.png")]


def remove_outputs(out):
    for n in ("fault_latency.json", "fault_latency.md", "fault_latency.png"):
        try:
            (Path(out) / n).unlink()
        except FileNotFoundError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=500,
                    help="samples per vCPU and path after the warm-up (16..2000)")
    ap.add_argument("--cpus", type=int, default=0,
                    help="vCPUs at once, on as many CPUs plus CPU 0 for the host task "
                         "(default: 4 under Bochs, < host CPUs on KVM)")
    ap.add_argument("--platform", help="bochs or kvm (default: the best VMX platform)")
    ap.add_argument("--out", default=str(ev.BUILD / "bench"))
    ap.add_argument("--timeout", type=float, default=1800, help="wall-clock seconds")
    ap.add_argument("--verbose", action="store_true", help="stream the serial log")
    args = ap.parse_args(argv)

    if not ev.no_build():
        b = ev.make("kernel")
        if not b.ok:
            sys.stdout.write(b.output)
            print("bench: `%s` failed" % " ".join(b.cmd))
            return 2
    plat = ev.get_platform(args.platform) if args.platform else ev.best_vmx_platform()
    cpus = args.cpus or default_cpus(plat)
    if not 1 <= cpus <= MAX_VCPUS:
        print("bench: --cpus %d: 1..%d vCPUs (the kernel runs at most %d CPUs, one of them the "
              "host task's)" % (cpus, MAX_VCPUS, MAX_VCPUS + 1))
        return 2
    remove_outputs(args.out)  # a failed run leaves no old numbers behind to be mistaken
    print("bench: platform %s, %d vCPU(s) on %d CPU(s) (CPU 0: the host task), %d samples "
          "per vCPU and path" % (plat.name, cpus, cpus + 1, args.samples), flush=True)
    echo = (lambda line: print(line, flush=True)) if args.verbose else None
    res = run_bench(plat, args.samples, cpus, args.timeout, echo)
    records, ratios, probs = check_run(res, args.samples, cpus)
    if probs:
        print(res.failure_report(why=probs))
        print("bench: FAILED on %s (serial log %s)" % (res.platform, res.log_path))
        return 1
    meta = {"platform": res.platform, "vcpus": cpus, "samples": args.samples,
            "warmup": records[0].get("warmup", 0), "cmdline": res.cmdline,
            "date": time.strftime("%Y-%m-%d")}
    files = write_outputs(args.out, records, ratios, meta)
    print(Path(files[1]).read_text())
    print("bench: %s (%.0f s on %s)" % (", ".join(str(f) for f in files), res.duration,
                                        res.platform))
    return 0


if __name__ == "__main__":
    sys.exit(main())
