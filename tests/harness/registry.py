#!/usr/bin/env python3
"""The scenario table, read from its one source: the `scenarios[]` rows of
scenarios/registry.c. The harness derives its lists of scenarios from it, and check()
compares with it everything else that names scenarios:

  - every BootSpec of tests/harness/test_*.py (scenarios.toml's entries are BootSpecs of
    test_scenarios.py): each word of its run= must be a scenario, a group or all/none/guest;
    each row must be booted by at least one of them on a VMX platform, with its kernel (PC
    guests) among the boot's GRUB modules, or it would only ever be skipped;
  - scenarios.toml: each `expect` name must be a scenario its run= selects;
  - docs/experiments.md: the tables of its "Scenarios" section (first column `name`) must
    name every row and nothing else, a `group` column must agree with the row, and the run=
    option's list of groups must be the table's groups.

    python3 tests/harness/registry.py            # the table, one row a line
    python3 tests/harness/registry.py --check    # the problems, exit status 1 if any

Stdlib only (test_registry.py runs check() in `make test`).
"""

import importlib
import re
import sys
from collections import namedtuple
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REGISTRY_C = REPO / "scenarios" / "registry.c"
EXPERIMENTS_MD = REPO / "docs" / "experiments.md"
BUILD_PC = REPO / "build" / "pc"

# run= words that are not rows (scenarios/runner.c): every group but bench, nothing, and the
# kernel given with guest=.
SPECIAL = ("all", "none", "guest")
# The groups run=all leaves out (scenarios/runner.c, selected()): bench and bench_*.
NOT_IN_ALL = "bench"
# Platforms where scenarios run; elsewhere (QEMU TCG, no VMX) every one is skipped.
VMX_PLATFORMS = ("vmx", "bochs", "kvm")


class Scenario(namedtuple("Scenario", "name group kernel kargs kmods fields line")):
    """One row: name, group, and for PC guests kernel, kargs, kmods (None when unset; a
    Linux kernel's kinitrd is in fields);
    fields: every field as written (strings decoded, other values as C text); line: where
    the row starts in scenarios/registry.c."""

    @property
    def modules(self):
        """The GRUB modules the row needs: its kernel, then its kmods, then its kinitrd."""
        if not self.kernel:
            return ()
        initrd = self.fields.get("kinitrd")
        return (self.kernel,) + tuple(m for m in (self.kmods or "").split(",") if m) + \
            ((initrd,) if isinstance(initrd, str) and initrd else ())


# ---------------------------------------------------------------------------------------------
# reading the C table

_TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)


def _blank_comments(text):
    """TEXT with its comments turned into blanks (newlines kept, so offsets keep lines)."""
    def blank(m):
        s = m.group(0)
        return s if s[0] in "\"'" else re.sub(r"[^\n]", " ", s)
    return _TOKEN.sub(blank, text)


def _split_top(text, sep, opening="{(", closing="})"):
    """(offset, piece) for each part of TEXT between SEPs outside brackets and strings."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _TOKEN.match(text, i).end()
            continue
        if c in opening:
            depth += 1
        elif c in closing:
            depth -= 1
        elif c == sep and depth == 0:
            out.append((start, text[start:i]))
            start = i + 1
        i += 1
    out.append((start, text[start:]))
    return out


def _c_string(value):
    """The string of a C expression made only of adjacent literals, else None."""
    parts = re.findall(r'"((?:\\.|[^"\\])*)"', value)
    if not parts or re.sub(r'"(?:\\.|[^"\\])*"', "", value).strip():
        return None
    return "".join(bytes(p, "utf-8").decode("unicode_escape") for p in parts)


def _table_body(text, path):
    m = re.search(r"\bstruct\s+scenario\s+scenarios\s*\[\s*\]\s*=\s*\{", text)
    if not m:
        raise ValueError("%s: no `const struct scenario scenarios[] = {`" % path)
    depth, i = 1, m.end()
    while depth:
        if i >= len(text):
            raise ValueError("%s: the scenarios[] table does not end" % path)
        if text[i] == '"':
            i = _TOKEN.match(text, i).end()
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return m.end(), text[m.end():i - 1]


def load(path=REGISTRY_C):
    """The rows of the scenarios[] table in PATH, in table order."""
    path = Path(path)
    text = _blank_comments(path.read_text())
    base, body = _table_body(text, path)
    rows = []
    for off, item in _split_top(body, ","):
        if not item.strip():
            continue
        line = text.count("\n", 0, base + off + len(item) - len(item.lstrip())) + 1
        item = item.strip()
        if not (item.startswith("{") and item.endswith("}")):
            raise ValueError("%s:%d: a row that is not { .field = value, ... }" % (path, line))
        fields = {}
        for _, f in _split_top(item[1:-1], ","):
            if not f.strip():
                continue
            m = re.match(r"\s*\.(\w+)\s*=\s*(.*\S)\s*$", f, re.S)
            if not m:
                raise ValueError("%s:%d: not a designated initializer: %r" % (path, line, f))
            s = _c_string(m.group(2))
            fields[m.group(1)] = s if s is not None else " ".join(m.group(2).split())
        for key in ("name", "group"):
            if not isinstance(fields.get(key), str) or not re.match(r"^\w+$", fields[key]):
                raise ValueError("%s:%d: .%s must be a string literal of letters, digits and "
                                 "_ (got %r)" % (path, line, key, fields.get(key)))
        rows.append(Scenario(fields["name"], fields["group"], fields.get("kernel"),
                             fields.get("kargs"), fields.get("kmods"), fields, line))
    return rows


_rows = None


def rows():
    """load(), read once."""
    global _rows
    if _rows is None:
        _rows = load()
    return _rows


def names(table=None):
    return [s.name for s in (table or rows())]


def groups(table=None):
    """Each group once, in the order of its first row."""
    return list(dict.fromkeys(s.group for s in (table or rows())))


def words(run):
    """The words of a run= value (a string "a,b" or a list of words)."""
    return [w for w in (run.split(",") if isinstance(run, str) else run) if w]


def selected(run, table=None):
    """The rows run=RUN runs, in the order the kernel runs them (table order), as
    scenarios/runner.c's selected() picks them."""
    w = set(words(run))
    return [s for s in (table or rows())
            if ("all" in w and not s.group.startswith(NOT_IN_ALL)) or s.name in w or
            s.group in w]


def modules(run, table=None, extra=()):
    """BootSpec modules for run=RUN: ((path, name), ...) for every kernel and kmod of the
    rows it selects, each once, in table order, then EXTRA names."""
    want = [m for s in selected(run, table) for m in s.modules] + list(extra)
    return tuple((str(BUILD_PC / m), m) for m in dict.fromkeys(want))


# ---------------------------------------------------------------------------------------------
# the check

def run_of(cmdline):
    """The run= value of a kernel command line, or what the kernel runs without one."""
    m = re.search(r"(?:^|\s)run=(\S+)", cmdline)
    if m:
        return m.group(1).strip("'\"")
    return "guest" if re.search(r"(?:^|\s)guest=", cmdline) else "demo"


def harness_boots(harness=HERE):
    """(where, BootSpec) for every BootSpec the harness's test modules define at module level
    (directly, or in a list, tuple or dict), each once."""
    if str(harness) not in sys.path:
        sys.path.insert(0, str(harness))
    from eptvisor import BootSpec
    out, seen = [], set()

    def visit(where, v, depth=0):
        if isinstance(v, BootSpec):
            if id(v) not in seen:
                seen.add(id(v))
                out.append((where, v))
        elif depth < 2 and isinstance(v, (list, tuple)):
            for x in v:
                visit(where, x, depth + 1)
        elif depth < 2 and isinstance(v, dict):
            for x in v.values():
                visit(where, x, depth + 1)

    for path in sorted(Path(harness).glob("test_*.py")):
        mod = importlib.import_module(path.stem)
        for attr, v in vars(mod).items():
            visit("%s:%s" % (path.name, attr), v)
    return out


def check_boots(boots, table=None):
    """Problems with the harness's boots (harness_boots()) against the table."""
    table = table or rows()
    known = set(names(table)) | set(groups(table)) | set(SPECIAL)
    p, booted = [], set()
    for where, spec in boots:
        run = run_of(spec.cmdline)
        for w in words(run):
            if w not in known:
                p.append("%s (%s): run=%s names %r, which is no scenario or group of %s"
                         % (where, spec.name, run, w, REGISTRY_C.relative_to(REPO)))
        expect = getattr(spec, "expect", None) or []
        chosen = names(selected(run, table))
        for e in expect:
            if e not in chosen:
                p.append("%s (%s): expects %r, which run=%s does not run"
                         % (where, spec.name, e, run))
        if spec.platform not in VMX_PLATFORMS:
            continue
        given = {m for _, m in spec.modules}
        for s in selected(run, table):
            lacking = [m for m in s.modules if m not in given]
            if lacking:
                p.append("%s (%s): runs %s without its module(s) %s: it would be skipped"
                         % (where, spec.name, s.name, ", ".join(lacking)))
            else:
                booted.add(s.name)
    for s in table:
        if s.name not in booted:
            p.append("%s:%d: scenario %s (group %s) is booted by no test: add it to a test's "
                     "run= or to tests/harness/scenarios.toml"
                     % (REGISTRY_C.relative_to(REPO), s.line, s.name, s.group))
    return p


def _section(text, title):
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.S | re.M)
    return m.group(1) if m else ""


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def doc_tables(text):
    """(header cells, [row cells, ...]) for each Markdown table in TEXT."""
    out, cur = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            cur = None
            continue
        if cur is None:
            cur = (_cells(line), [])
            out.append(cur)
        elif not re.match(r"^\|[-| :]+\|$", line.strip()):
            cur[1].append(_cells(line))
    return out


def check_docs(path=EXPERIMENTS_MD, table=None):
    """Problems with docs/experiments.md against the table."""
    table = table or rows()
    by_name = {s.name: s for s in table}
    grps = groups(table)
    text = Path(path).read_text()
    where = Path(path).relative_to(REPO) if Path(path).is_relative_to(REPO) else path
    p, documented = [], set()
    for header, body in doc_tables(_section(text, "Scenarios")):
        if not header or header[0] != "name":
            continue
        gcol = header.index("group") if "group" in header else None
        for cells in body:
            for w in re.findall(r"`([^`]+)`", cells[0]):
                if w in by_name:
                    documented.add(w)
                    if gcol is not None and cells[gcol].strip("`") != by_name[w].group:
                        p.append("%s: %s is in group %s, the table says %s"
                                 % (where, w, cells[gcol], by_name[w].group))
                elif w not in grps:
                    p.append("%s: the scenario table names %r, which is no scenario of %s"
                             % (where, w, REGISTRY_C.relative_to(REPO)))
    for s in table:
        if s.name not in documented:
            p.append("%s: scenario %s (group %s) is in no table of the \"Scenarios\" section"
                     % (where, s.name, s.group))
    run_rows = [c for h, b in doc_tables(_section(text, "The kernel command line"))
                for c in b if c and c[0] == "`run=`"]
    if len(run_rows) != 1:
        p.append("%s: no single `run=` row in \"The kernel command line\"" % where)
    else:
        said = set(re.findall(r"`([^`]+)`", run_rows[0][1]))
        want = {g for g in grps if g not in by_name} | set(SPECIAL)
        for w in sorted(said - want):
            p.append("%s: the `run=` row lists %r, which is no group of %s"
                     % (where, w, REGISTRY_C.relative_to(REPO)))
        for w in sorted(want - said):
            p.append("%s: the `run=` row does not list %r" % (where, w))
    return p


def check_table(table=None):
    """Problems within the table itself."""
    table = table or rows()
    p, seen = [], {}
    for s in table:
        if s.name in seen:
            p.append("%s:%d: scenario %s twice (first at line %d)"
                     % (REGISTRY_C.relative_to(REPO), s.line, s.name, seen[s.name]))
        seen.setdefault(s.name, s.line)
        if s.name in SPECIAL or s.group in SPECIAL:
            p.append("%s:%d: %s/%s: %s are run= words of their own"
                     % (REGISTRY_C.relative_to(REPO), s.line, s.name, s.group, "/".join(SPECIAL)))
    for g in groups(table):
        if g in seen and [s.name for s in table if s.group == g] != [g]:
            p.append("%s: group %s is also the name of a scenario, and has other rows"
                     % (REGISTRY_C.relative_to(REPO), g))
    return p


def check():
    """Every problem found, as short sentences (empty: the table and its users agree)."""
    table = rows()
    return check_table(table) + check_boots(harness_boots(), table) + check_docs(table=table)


def main(argv):
    if "--check" in argv:
        p = check()
        for x in p:
            print(x)
        print("%d problem(s)" % len(p) if p else "%d scenarios in %d groups: consistent"
              % (len(rows()), len(groups())))
        return 1 if p else 0
    for s in rows():
        print("%-36s %-9s %s" % (s.name, s.group, " ".join(
            filter(None, (s.kernel, s.kargs and "'%s'" % s.kargs)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
