#!/usr/bin/python3
"""Turns meson's testlog.json and pytest's JUnit XML into "passed failed" pairs, and sums
them into the closing line. A skipped test counts as failed: nothing may pass by skipping."""
import json
import sys
import xml.etree.ElementTree as ET


def meson(path):
    passed = failed = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return 0, 1
    for line in lines:
        result = json.loads(line)["result"]
        if result == "OK":
            passed += 1
        else:
            failed += 1
    return passed, failed if lines else 1


def junit(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0, 1
    passed = failed = 0
    for case in root.iter("testcase"):
        if any(child.tag in ("failure", "error", "skipped") for child in case):
            failed += 1
        else:
            passed += 1
    # a collection error produces no testcase but an errors count on the suite
    for suite in root.iter("testsuite"):
        if int(suite.get("errors", 0)) and not any(True for _ in suite.iter("testcase")):
            failed += int(suite.get("errors"))
    return passed, (failed if passed + failed else 1)


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
