#!/usr/bin/python3
"""Runs one pytest file (or directory) as one `meson test`: its cases are counted one by one
from the JUnit XML named by --junitxml= (scripts/count-results.py reads it from meson's test
log), so a file is never summed up as a single pass.

    run-pytest.py --junitxml=PATH [pytest arguments: options, files or directories...]

Each run gets a private --basetemp under /tmp: concurrent pytest processes would otherwise
share /tmp/pytest-of-USER and prune each other's directories, and a short base keeps the
unix socket paths of the tests under their 108-byte limit wherever the checkout lives."""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def main(argv):
    if len(argv) < 2 or not argv[0].startswith("--junitxml="):
        sys.exit("usage: run-pytest.py --junitxml=PATH [pytest arguments...]")
    junit = argv[0].split("=", 1)[1]
    # A stale report must never count for a run that died before writing its own.
    try:
        os.unlink(junit)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(junit) or ".", exist_ok=True)
    base = tempfile.mkdtemp(prefix="phx-pytest-")
    try:
        # -rfEs names every failure, error and skip at the end of meson's log of the test.
        cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
               "--basetemp=" + os.path.join(base, "t"), "--junitxml=" + junit, *argv[1:]]
        # stdin is not a terminal in CI and must not be one here either.
        code = subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode
    finally:
        shutil.rmtree(base, ignore_errors=True)
    # Nothing may pass by skipping: meson's own verdict agrees with the final count.
    if code == 0 and skipped(junit):
        print("run-pytest: %d test(s) skipped; a skip counts as a failure" % skipped(junit))
        code = 1
    return code


def skipped(junit):
    try:
        cases = ET.parse(junit).getroot().iter("testcase")
    except (OSError, ET.ParseError):
        return 0
    return sum(1 for c in cases if any(child.tag == "skipped" for child in c))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
