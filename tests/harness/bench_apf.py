#!/usr/bin/env python3
"""The asynchronous page-fault benchmark (`make bench`; issue 15, docs/benchmarks.md).

Boots run=bench_apf (scenarios bench_apf_async and bench_apf_sync: pcapf.elf, one walker over
128 pages of a slow store with latency L, and a compute task, with and without KVM's async
page faults) on the best VMX platform, and writes:

  build/bench/async_pf.json  the measured figures and the goals
  build/bench/async_pf.md    the same as a table, with what the numbers mean here

Measured in one run:
  - work rate: the compute task's steps per TSC cycle of the walk, async over sync
    (goal >= 3x when L is at least 20x the fault round trip);
  - page-ready latency p50/p99 (hypervisor: from "not present" to "page ready") against L;
  - the cost of one not-present + ready pair in path length relative to a null exit: the
    guest's touch -> not-present #PF handler, plus its ACK's WRMSR round trip, plus one null
    exit for the kick that delivers the ready, over CPUID's round trip (the guest's null exit).

    tests/harness/bench_apf.py [--latency-us 40000] [--platform bochs] [--out DIR]
"""

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eptvisor as ev  # noqa: E402
import registry  # noqa: E402

ROWS = ("bench_apf_async", "bench_apf_sync")
WORK_GOAL = 3.0        # async/sync work rate, when L >= LATENCY_FACTOR x the fault round trip
LATENCY_FACTOR = 20
TSC_RE = re.compile(r"^timer: TSC (\d+) kHz")


def guest_json(res, vm):
    """The guest's two @json lines (walk and timing), merged."""
    out = {}
    for line in res.lines():
        pre = "[guest %s] pcapf: @json " % vm
        if line.startswith(pre):
            out.update(json.loads(line[len(pre):]))
    return out


def host_json(res, key, vm):
    return next((o for o in res.json() if o.get(key) == vm), None)


def measure(res, latency_us):
    """(record, problems) of one run."""
    p = res.problems()
    tap = {t.name: t for t in res.tap()}
    for r in ROWS:
        if r not in tap or not tap[r].passed:
            p.append("%s did not pass: %s" % (r, tap.get(r)))
    a, s = guest_json(res, "bench_apf_async"), guest_json(res, "bench_apf_sync")
    apf = host_json(res, "apf", "bench_apf_async")
    store = host_json(res, "pc_store", "bench_apf_sync")
    if not a.get("walk_tsc") or not s.get("walk_tsc") or not apf or not store:
        p.append("missing output: guest %s / %s, apf %s, store %s" % (a, s, apf, store))
        return None, p
    if a["async"] != 1 or s["async"] != 0:
        p.append("the runs were not async and sync: %s / %s" % (a["async"], s["async"]))
    tsc_khz = next((int(m.group(1)) for m in (TSC_RE.match(l) for l in res.lines()) if m), None)
    rate_a = a["compute_steps"] / a["walk_tsc"]
    rate_s = s["compute_steps"] / s["walk_tsc"]
    null, np_, ack = a["cpuid_tsc_p50"], a["not_present_tsc_p50"], a["ack_tsc_p50"]
    khz = tsc_khz or 0
    latency_tsc = latency_us * khz / 1000 if khz else None
    ratio = rate_a / rate_s if rate_s else float("inf")
    rec = {
        "platform": res.platform, "latency_us": latency_us, "pages": a["pages"],
        "tsc_khz": khz,
        "work_rate_async": rate_a, "work_rate_sync": rate_s, "work_ratio": ratio,
        "walk_tsc_async": a["walk_tsc"], "walk_tsc_sync": s["walk_tsc"],
        "steps_async": a["compute_steps"], "steps_sync": s["compute_steps"],
        "fault_round_trip_tsc": np_,
        "latency_over_round_trip": (latency_tsc / np_) if latency_tsc and np_ else None,
        "ready_latency_p50_us": apf["ready_latency_us"]["p50"],
        "ready_latency_p99_us": apf["ready_latency_us"]["p99"],
        "ready_latency_max_us": apf["ready_latency_us"]["max"],
        "ready_over_latency_p50": apf["ready_latency_us"]["p50"] / latency_us,
        "ready_over_latency_p99": apf["ready_latency_us"]["p99"] / latency_us,
        "delivery_p50_us": apf["delivery_us"]["p50"], "delivery_p99_us": apf["delivery_us"]["p99"],
        "not_present_tsc_p50": np_, "ack_tsc_p50": ack, "null_exit_tsc_p50": null,
        "pair_tsc": np_ + ack + null, "pair_over_null_exit": (np_ + ack + null) / null if null else None,
        "not_present": apf["not_present"], "ready": apf["ready"],
        "sync_waits": store["waits"], "sync_wait_avg_us": store["wait_avg_us"],
    }
    applies = rec["latency_over_round_trip"] is not None and \
        rec["latency_over_round_trip"] >= LATENCY_FACTOR
    rec["goal"] = {"work_ratio_min": WORK_GOAL, "applies": applies,
                   "met": (ratio >= WORK_GOAL) if applies else None}
    return rec, p


def write(out, rec):
    out.mkdir(parents=True, exist_ok=True)
    (out / "async_pf.json").write_text(json.dumps(rec, indent=1) + "\n")
    g = rec["goal"]
    verdict = ("met" if g["met"] else "**missed**") if g["applies"] else \
        "not judged (L < %dx the round trip)" % LATENCY_FACTOR
    md = ["# Asynchronous page faults (`make bench`, %s)" % rec["platform"], "",
          "pcapf.elf: one walker over %d pages of a slow store, latency L = %d us, and a compute "
          "task; the same kernel with KVM's async page faults (bench_apf_async) and without "
          "(bench_apf_sync: every touch waits in the hypervisor). TSC %s kHz." %
          (rec["pages"], rec["latency_us"], rec["tsc_khz"] or "?"), "",
          "| figure | async | sync |", "|---|---|---|",
          "| walk (TSC cycles) | %d | %d |" % (rec["walk_tsc_async"], rec["walk_tsc_sync"]),
          "| compute steps during the walk | %d | %d |" % (rec["steps_async"], rec["steps_sync"]),
          "| work per cycle | %.3g | %.3g |" % (rec["work_rate_async"], rec["work_rate_sync"]),
          "", "| measure | value | goal |", "|---|---|---|",
          "| work rate async / sync | %.2f | >= %.1f when L >= %dx the fault round trip: %s |" %
          (rec["work_ratio"], WORK_GOAL, LATENCY_FACTOR, verdict),
          "| L / fault round trip (touch -> not-present handler, %d cycles) | %s | >= %d |" %
          (rec["fault_round_trip_tsc"], "%.1f" % rec["latency_over_round_trip"]
           if rec["latency_over_round_trip"] else "?", LATENCY_FACTOR),
          "| page-ready latency p50 / p99 (us) | %d / %d (%.2f / %.2f x L) | |" %
          (rec["ready_latency_p50_us"], rec["ready_latency_p99_us"],
           rec["ready_over_latency_p50"], rec["ready_over_latency_p99"]),
          "| of it, page in -> page ready delivered p50 / p99 (us) | %d / %d | |" %
          (rec["delivery_p50_us"], rec["delivery_p99_us"]),
          "| not-present + ready pair (cycles) | %d = %d + %d + %d | |" %
          (rec["pair_tsc"], rec["not_present_tsc_p50"], rec["ack_tsc_p50"],
           rec["null_exit_tsc_p50"]),
          "| pair / null exit (CPUID round trip) | %.1f | |" % rec["pair_over_null_exit"],
          "",
          "The pair is the guest's touch -> not-present #PF handler, its ACK's WRMSR round "
          "trip, and one null exit for the I/O task's kick after which the ready goes in. "
          "Under Bochs the TSC counts executed instructions, so cycles are path lengths."]
    (out / "async_pf.md").write_text("\n".join(md) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency-us", type=int, default=40000)
    ap.add_argument("--platform")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--out", default=str(ev.BUILD / "bench"))
    args = ap.parse_args(argv)
    if not ev.no_build():
        for target in ("kernel", "pcguests"):
            b = ev.make(target)
            if not b.ok:
                print("bench_apf: `make %s` failed:\n%s" % (target, b.output[-3000:]))
                return 1
    plat = ev.get_platform(args.platform) if args.platform else ev.best_vmx_platform()
    out = Path(args.out)
    for f in ("async_pf.json", "async_pf.md"):
        (out / f).unlink(missing_ok=True)
    print("bench_apf: %s, store latency %d us" % (plat.name, args.latency_us), flush=True)
    res = ev.boot(plat, "run=bench_apf store_latency_us=%d" % args.latency_us, "bench-apf",
                  cpus=2, megs=512, timeout=args.timeout,
                  modules=registry.modules("bench_apf"))
    rec, p = measure(res, args.latency_us)
    if p or rec is None:
        print("bench_apf: the run failed:\n  " + "\n  ".join(p))
        return 1
    write(out, rec)
    print((out / "async_pf.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
