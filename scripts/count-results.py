#!/usr/bin/python3
"""Counts test cases, not test programs, into "passed failed" pairs, and sums them into the
closing line "N passed, N failed". A skipped case counts as failed: nothing may pass by skipping.

    count-results.py meson BUILDDIR/meson-logs/LOGBASE.json   one `meson test` run
    count-results.py junit FILE.xml                           one pytest JUnit report
    count-results.py sum < pairs                              the closing line

In a meson log, a test whose command names --junitxml=PATH (tests/run-pytest.py) counts the
cases of that report; a TAP test (GTest --tap) counts its "ok"/"not ok" lines; any other test
counts once. A test meson saw fail counts at least one failure whatever its report says (a
crash after the report was written, a meson timeout). Failed cases are named on stderr."""
import json
import re
import sys
import xml.etree.ElementTree as ET

TAP_PLAN = re.compile(r"^1\.\.\d+", re.M)
TAP_LINE = re.compile(r"^(ok|not ok)\b[^#\n]*(#\s*(\w+))?", re.M)


def note(name):
    print("  failed: " + name, file=sys.stderr)


def junit(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        note("%s (no report: %s)" % (path, e))
        return 0, 1
    passed = failed = 0
    for case in root.iter("testcase"):
        bad = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        if bad:
            failed += 1
            note("%s::%s (%s)" % (case.get("classname"), case.get("name"), "/".join(bad)))
        else:
            passed += 1
    # a collection error produces no testcase but an errors count on the suite
    for suite in root.iter("testsuite"):
        if int(suite.get("errors", 0)) and not any(True for _ in suite.iter("testcase")):
            failed += int(suite.get("errors"))
            note("%s (collection error)" % path)
    if not passed + failed:
        note("%s (no test case ran)" % path)
        return 0, 1
    return passed, failed


def tap(name, text):
    passed = failed = 0
    for m in TAP_LINE.finditer(text):
        directive = (m.group(3) or "").upper()
        if m.group(1) == "ok" and directive != "SKIP":
            passed += 1
        else:
            failed += 1
            note("%s: %s" % (name, m.group(0).strip()))
    return passed, failed


def meson(path):
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        note("%s (no meson log: %s)" % (path, e))
        return 0, 1
    passed = failed = 0
    for line in lines:
        entry = json.loads(line)
        name, ok = entry["name"], entry["result"] == "OK"
        report = [a.split("=", 1)[1] for a in entry.get("command", []) if a.startswith("--junitxml=")]
        if report:
            p, f = junit(report[0])
        elif TAP_PLAN.search(entry.get("stdout", "")):
            p, f = tap(name, entry["stdout"])
        else:
            p, f = (1, 0) if ok else (0, 0)
        if not ok and f == 0:
            f = 1
            note("%s (%s)" % (name, entry["result"]))
        passed, failed = passed + p, failed + f
    if not lines:
        note("%s (no test ran)" % path)
        return 0, 1
    return passed, failed


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "sum":
        p = f = 0
        for line in sys.stdin:
            a, b = line.split()
            p, f = p + int(a), f + int(b)
        print("%d passed, %d failed" % (p, f))
        sys.exit(1 if f else 0)
    p, f = (meson if kind == "meson" else junit)(sys.argv[2])
    print(p, f)
