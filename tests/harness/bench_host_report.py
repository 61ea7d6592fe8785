#!/usr/bin/env python3
"""The report of the host benchmarks of the EPT core (`make bench-host`; docs/benchmarks.md).

Reads the JSON array tests/unit/ept_bench.c writes (one record per measurement, each over
several runs) and writes next to it:

  ept_core.md   the table: record, p50/p90/p99 of its time, its limit and baseline (p50), the
                ratio (p50 of the per-run ratios, and its spread), the goal, met or missed
  ept_core.png  one row per record: the ratio's p50 (dot) and min..p99 (bar) on a log scale,
                the goal as a tick; green met, red missed, grey no goal

Standard library only (the PNG comes from tests/harness/pngplot.py).

    tests/harness/bench_host_report.py [build/bench/ept_core.json] [--out DIR]
"""

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pngplot  # noqa: E402

BUILD = Path(__file__).resolve().parents[2] / "build"
QUANTILES = ("min", "p50", "p90", "p99")
COLUMNS = ("ns", "limit_ns", "baseline_ns", "ratio")
# Every record's keys: the first seven are the original ones (ns, limit_ns, baseline_ns,
# ratio: the p50s), then the spread over the runs and the goal as data.
KEYS = (("name", "guest_gib", "leaf", "ns", "limit_ns", "baseline_ns", "ratio", "runs",
         "ratio_is", "goal", "goal_op", "goal_bound", "met") +
        tuple("%s_%s" % (c, q) for c in COLUMNS for q in QUANTILES))
# What ratio_is may say, and the ops a goal may use.
RATIO_IS = {"ns/limit_ns", "limit_ns/ns", "ns/baseline_ns", "baseline_ns/ns"}
GOAL_OPS = {">=": lambda v, b: v >= b, "<=": lambda v, b: v <= b}


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(records, runs=None):
    """Everything wrong with a list of bench-host records, as sentences (empty: fine)."""
    if not isinstance(records, list) or not records:
        return ["no records"]
    p, names = [], set()
    for r in records:
        where = r.get("name", "?") if isinstance(r, dict) else repr(r)
        missing = [k for k in KEYS if not isinstance(r, dict) or k not in r]
        if missing:
            p.append("%s: keys missing: %s" % (where, ", ".join(missing)))
            continue
        if (r["name"], r["leaf"]) in names:
            p.append("%s %s: two records" % (where, r["leaf"]))
        names.add((r["name"], r["leaf"]))
        if r["leaf"] not in ("4K", "2M", "1G") or not isinstance(r["guest_gib"], int) \
                or r["guest_gib"] < 1:
            p.append("%s: leaf %r, guest_gib %r" % (where, r["leaf"], r["guest_gib"]))
        if not isinstance(r["runs"], int) or r["runs"] < 1 or (runs and r["runs"] != runs):
            p.append("%s: runs %r, expected %s" % (where, r["runs"], runs or ">= 1"))
        for c in COLUMNS:
            q = [r["%s_%s" % (c, x)] for x in QUANTILES]
            if not all(_num(v) and v >= 0 for v in q) or q != sorted(q):
                p.append("%s: %s quantiles not non-negative and in order: %s" % (where, c, q))
            elif r[c] != r[c + "_p50"]:
                p.append("%s: %s %r is not its p50 %r" % (where, c, r[c], r[c + "_p50"]))
        if r["ns"] <= 0:
            p.append("%s: ns %r: nothing measured" % (where, r["ns"]))
        if r["ratio_is"] not in RATIO_IS:
            p.append("%s: ratio_is %r" % (where, r["ratio_is"]))
        else:
            den = r[r["ratio_is"].split("/")[1]]
            if den <= 0 or not r["ratio_min"] > 0:
                p.append("%s: ratio %s with %s" % (where, r["ratio_is"], den))
        p += _goal_problems(r, where)
    return p


def _goal_problems(r, where):
    if r["goal"] is None:
        if r["goal_op"] is not None or r["met"] is not None:
            return ["%s: no goal but goal_op %r, met %r" % (where, r["goal_op"], r["met"])]
        return []
    if r["goal_op"] not in GOAL_OPS or not _num(r["goal_bound"]) \
            or r["goal"] != "ratio %s %g" % (r["goal_op"], r["goal_bound"]):
        return ["%s: goal %r, goal_op %r, goal_bound %r" % (where, r["goal"], r["goal_op"],
                                                            r["goal_bound"])]
    if r["met"] is not GOAL_OPS[r["goal_op"]](r["ratio"], r["goal_bound"]):
        return ["%s: met %r but ratio %r %s" % (where, r["met"], r["ratio"], r["goal"])]
    return []


# ---- the table -------------------------------------------------------------------------------

def fmt_ns(v):
    """A time for people: 850 ns, 12.3 us, 45.6 ms, 1.23 s."""
    if not v:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if v >= scale:
            x = v / scale
            return "%.*f %s" % (2 if x < 10 else 1 if x < 100 else 0, x, unit)
    return "%d ns" % v


def fmt_ratio(v):
    return "%.3g" % v if v < 1000 else "%.0f" % v


def verdict(r):
    return "" if r["met"] is None else "met" if r["met"] else "**missed**"


def table_lines(records):
    lines = ["| record | guest | p50 | p90 | p99 | limit (p50) | baseline (p50) | ratio p50 "
             "(min–p99) | ratio is | goal | |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in records:
        lines.append("| %s | %d GiB, %s | %s | %s | %s | %s | %s | %s (%s–%s) | %s | %s | %s |" % (
            r["name"], r["guest_gib"], r["leaf"], fmt_ns(r["ns_p50"]), fmt_ns(r["ns_p90"]),
            fmt_ns(r["ns_p99"]), fmt_ns(r["limit_ns"]), fmt_ns(r["baseline_ns"]),
            fmt_ratio(r["ratio"]), fmt_ratio(r["ratio_min"]), fmt_ratio(r["ratio_p99"]),
            r["ratio_is"].replace("_ns", ""), r["goal"] or "–", verdict(r)))
    return lines


def write_md(path, records, meta):
    goals = [r for r in records if r["goal"]]
    met = sum(1 for r in goals if r["met"])
    lines = [
        "# EPT core on the host (`make bench-host`)",
        "",
        "%s: %d runs per record; times are p50/p90/p99 over the runs (nearest rank: with "
        "fewer than 10 runs p90 and p99 are the slowest run). The ratio is taken within each "
        "run (the operation and its limit or baseline measured side by side) and its p50 over "
        "the runs is judged against the goal. Fault records: ns per fault. Host timings move "
        "with the machine's load: compare ratios, and runs of one machine." % (
            meta.get("date", "?"), records[0]["runs"]),
        "",
        "**Goals: %d of %d met.**" % (met, len(goals)),
        "",
    ] + table_lines(records) + [
        "",
        "`limit`: the floor the operation is held to (scan: a read-modify-write pass; "
        "scan_*_vs_seed: a plain read pass; split/collapse: writing the same table bytes). "
        "`baseline`: what it is compared with (scan: the seed's loop; scan_*_read: the scan; "
        "harvest: the same run's 100% harvest; faults: the other path). What each figure "
        "means and why its baseline is fair: docs/benchmarks.md, \"Host benchmarks\".",
        "",
        "Plot: `ept_core.png` (each record's ratio, p50 and min–p99, against its goal).",
        "",
    ]
    Path(path).write_text("\n".join(lines))


# ---- the plot --------------------------------------------------------------------------------

GREEN, RED, BLUE = (30, 150, 60), (210, 40, 40), (40, 90, 200)
ROW, LEFT, RIGHT, TOP, BOTTOM = 18, 250, 220, 56, 46


def _decades(records):
    vals = [v for r in records for v in (r["ratio_min"], r["ratio_p99"], r["goal_bound"])
            if _num(v) and v > 0]
    lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
    return lo, max(hi, lo + 1)


def write_png(path, records, meta):
    """One row per record: the per-run ratio's min..p99 as a bar, its p50 as a dot, the goal
    as a tick (log scale), coloured by the verdict."""
    width, height = 1100, TOP + ROW * len(records) + BOTTOM
    c = pngplot.Canvas(width, height)
    lo, hi = _decades(records)
    x0, x1 = LEFT, width - RIGHT

    def x(v):
        v = max(v, 10.0 ** lo)
        return x0 + (x1 - x0) * (math.log10(v) - lo) / (hi - lo)

    c.text(8, 8, "eptvisor EPT core on the host: ratio per record (log scale), %d runs, %s"
           % (records[0]["runs"], meta.get("date", "")), scale=2)
    c.text(8, 32, "dot: p50 of the per-run ratio; bar: min..p99; tick |: goal.  green met, "
           "red missed, grey no goal", pngplot.GREY)
    for d in range(lo, hi + 1):
        c.line(x(10.0 ** d), TOP - 4, x(10.0 ** d), height - BOTTOM + 4, (215, 215, 215))
        label = "%g" % 10.0 ** d
        c.text(x(10.0 ** d) - pngplot.text_width(label) // 2, height - BOTTOM + 10, label)
    c.text((x0 + x1) // 2 - 60, height - BOTTOM + 26, "ratio (see ratio_is)")
    for i, r in enumerate(records):
        y = TOP + i * ROW + ROW // 2
        colour = pngplot.GREY if r["met"] is None else GREEN if r["met"] else RED
        if i % 2:
            c.rect(0, y - ROW // 2, width - 1, y + ROW // 2 - 1, (245, 245, 245))
        c.text(8, y - 3, "%s %s" % (r["name"], r["leaf"]))
        c.rect(x(r["ratio_min"]), y - 1, x(r["ratio_p99"]), y + 1, colour)
        if r["goal"]:
            gx = x(r["goal_bound"])
            c.rect(gx - 1, y - 7, gx, y + 7, BLUE)
        c.dot(x(r["ratio"]), y, 4, colour)
        c.text(x1 + 12, y - 3, "%s %s%s" % (fmt_ratio(r["ratio"]), r["ratio_is"].replace(
            "_ns", ""), "  " + r["goal"].replace("ratio ", "") if r["goal"] else ""), colour)
    c.save(path)


def write_report(records, out, meta):
    """ept_core.md and ept_core.png in out; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, png = out / "ept_core.md", out / "ept_core.png"
    write_md(md, records, meta)
    write_png(png, records, meta)
    return md, png


def main(argv=None):
    import time
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="?", default=str(BUILD / "bench" / "ept_core.json"))
    ap.add_argument("--out", help="directory of the md and png (default: the JSON's)")
    args = ap.parse_args(argv)
    records = json.loads(Path(args.json).read_text())
    probs = validate(records)
    if probs:
        print("bench-host: %s is not a valid result:\n  %s" % (args.json, "\n  ".join(probs)))
        return 1
    files = write_report(records, args.out or Path(args.json).parent,
                         {"date": time.strftime("%Y-%m-%d")})
    print(files[0].read_text())
    print("bench-host: %s, %s, %s" % (args.json, files[0], files[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
