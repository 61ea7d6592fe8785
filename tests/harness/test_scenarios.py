"""In-guest scenarios from scenarios.toml, on the best VMX platform (KVM, else Bochs)."""

import os
import tomllib
from pathlib import Path

import pytest

import eptvisor as ev
import registry
from eptvisor import BootSpec

# EPTVISOR_SCENARIOS: another manifest (e.g. a subset while working on one scenario).
MANIFEST = Path(os.environ.get("EPTVISOR_SCENARIOS") or
                Path(__file__).resolve().parent / "scenarios.toml")


def load_manifest(path=MANIFEST):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    out = []
    for e in data.get("scenario", []):
        name = e["name"]
        run = e.get("run", name)
        cmdline = ("run=%s %s" % (run, e.get("cmdline", ""))).strip()
        spec = BootSpec("scenario-" + name, cmdline, platform="vmx", cpus=e.get("cpus", 2),
                        megs=e.get("megs", 512), timeout=e.get("timeout", 60), label=name,
                        modules=registry.modules(run))
        # Without `expect`: every scenario run= selects (scenarios/registry.c).
        spec.expect = list(e.get("expect", registry.names(registry.selected(run))))
        spec.scenario = name
        out.append(spec)
    return out


SPECS = load_manifest()


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_scenario(spec, boots, judge):
    res = boots.result(spec)
    p = res.problems()
    tap = res.tap()
    by_name = {}
    for t in tap:
        by_name.setdefault(t.name, []).append(t)
    for want in spec.expect:
        got = by_name.get(want)
        if not got:
            p.append("expected TAP result %r is missing" % want)
        elif not all(t.passed for t in got):
            p.append("expected %r to pass, got: %s" % (want, "; ".join(str(t) for t in got)))
    for l in res.lines_matching(r"^cmdline: "):
        p.append("the kernel rejected part of the command line: %s" % l.strip())
    if not tap:
        p.append("no TAP lines at all: is scenario %r known to the kernel?" % spec.scenario)
    p += ev.json_platform_problems(res)
    judge(res, p)
