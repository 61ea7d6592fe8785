"""Kernel command line: bad options are reported by name and ignored; good ones are silent."""

import re

import pytest

from eptvisor import BootSpec

BAD = BootSpec("cmdline-bad", "foo=1 vcpus=abc mem=lots bogus", platform="qemu-tcg", cpus=1,
               timeout=60)
GOOD = BootSpec("cmdline-good", "run=none vcpus=2 mem=64M trace=off exc-test=off",
                platform="qemu-tcg", cpus=1, timeout=60)


@pytest.mark.parametrize("spec", [BAD], ids=str)
def test_bad_options_reported_by_name(spec, boots, judge):
    res = boots.result(spec)
    complaints = res.lines_matching(r"^cmdline: ")
    p = []
    for opt in ("foo", "vcpus", "mem", "bogus"):
        if not any(re.search(r"(?<![\w-])%s(?![\w-])" % opt, l) for l in complaints):
            p.append("no 'cmdline: ' line names the bad option %r" % opt)
    if not res.booted():
        p.append("no boot banner")
    for l in res.panics():
        p.append("panic: %s" % l)
    if not res.reached_shutdown():
        p.append("the kernel did not go on to 'eptvisor: shutdown' after the bad options")
    if p:
        p.append("cmdline lines seen: %s" % (complaints or "(none)"))
    judge(res, p)


@pytest.mark.parametrize("spec", [GOOD], ids=str)
def test_good_options_accepted(spec, boots, judge):
    res = boots.result(spec)
    p = ["unexpected complaint about a valid option: %s" % l
         for l in res.lines_matching(r"^cmdline: ")]
    if not res.booted():
        p.append("no boot banner")
    for l in res.panics():
        p.append("panic: %s" % l)
    if not res.reached_shutdown():
        p.append("no 'eptvisor: shutdown' line")
    judge(res, p)
