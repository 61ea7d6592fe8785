"""The scenario table (scenarios/registry.c) is the one list of scenarios: every harness boot,
scenarios.toml and docs/experiments.md must name only its scenarios and groups, and every row
must be booted by some test and described in the docs (registry.py, check()). No boot: this
reads files only. The last two tests show the check failing on a row nobody added elsewhere."""

import re

import pytest

import registry


def test_table_and_its_users_agree():
    p = registry.check()
    if p:
        pytest.fail("%d problem(s) between scenarios/registry.c and the files naming its "
                    "scenarios:\n%s" % (len(p), "\n".join("  - " + x for x in p)),
                    pytrace=False)


def test_table_read_whole():
    """The parser saw every row (one `.name =` per row in the C text) and the groups."""
    rows = registry.rows()
    text = registry._blank_comments(registry.REGISTRY_C.read_text())
    assert len(rows) == len(re.findall(r"\.name\s*=", text))
    assert registry.groups()[:2] == ["demo", "selftest"]
    assert "bench" in registry.groups()
    assert registry.names(registry.selected("all")) == \
        [s.name for s in rows if not s.group.startswith("bench")]


FAKE = '\t{ .name = "fake_new_row", .group = "fake_group", .test = GT_HELLO },\n'


def _with_fake_row(tmp_path):
    text = registry.REGISTRY_C.read_text()
    end = text.index("\n};", text.index("scenarios[] = {"))
    path = tmp_path / "registry.c"
    path.write_text(text[:end + 1] + FAKE + text[end + 1:])
    return registry.load(path)


def test_a_row_nobody_boots_or_documents_is_found(tmp_path):
    table = _with_fake_row(tmp_path)
    assert table[-1].name == "fake_new_row"
    boots = [p for p in registry.check_boots(registry.harness_boots(), table)
             if "fake_new_row" in p]
    docs = [p for p in registry.check_docs(table=table) if "fake" in p]
    assert len(boots) == 1 and "booted by no test" in boots[0], boots
    assert any("fake_new_row" in p and "no table" in p for p in docs), docs
    assert any("does not list 'fake_group'" in p for p in docs), docs


def test_a_name_the_table_lacks_is_found():
    class Spec:
        name, cmdline, platform, modules = "x", "run=selftest,no_such_scenario", "vmx", ()
    p = registry.check_boots([("here", Spec())])
    assert any("'no_such_scenario'" in x for x in p), p
