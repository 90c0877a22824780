"""Attack 14: a host that runs commands which flood their output and never asks for it.

64 commands (the table's bound), each writing 32 MiB to stdout and 32 MiB to stderr: 4 GiB of
output in all. The agent keeps 16 MiB per stream and 128 MiB for all commands together, reads
and drops the rest (so no command blocks on a full pipe), and says so (`*-truncated`); its
peak memory stays within PHX_MEMORY_HWM_MAX, and a ping is answered while it drains.
"""
import time

import pytest

from conftest import MIB, SERVE_BOUND, limit, report, timed

pytestmark = pytest.mark.timeout(300)


def test_output_flood_from_every_command(agent):
    host = agent.connect()
    n = limit("PHX_EXEC_MAX")
    script = "head -c %d /dev/zero; head -c %d /dev/zero >&2" % (32 * MIB, 32 * MIB)
    pids = [host.ok("exec", {"path": "sh", "arg": ["-c", script], "capture-output": "separated"})["pid"]
            for _ in range(n)]
    assert "error" in host.request("exec", {"path": "true"})  # the table is full
    _, elapsed = timed(host.ok, "ping")
    assert elapsed < SERVE_BOUND
    kept, truncated = 0, 0
    deadline = time.monotonic() + 240
    for pid in pids:
        while True:
            st = host.ok("exec-status", {"pid": pid}, timeout=60)
            if st["exited"]:
                break
            assert time.monotonic() < deadline, "pid %d never exited" % pid
            time.sleep(0.05)
        assert st["exitcode"] == 0
        truncated += st["out-truncated"] + st["err-truncated"]
        kept += len(st.get("out-data", "")) * 3 // 4 + len(st.get("err-data", "")) * 3 // 4
    # every stream lost output (the page, the per-stream bound or the total bound saw to it)
    assert truncated == 2 * n
    assert kept <= 2 * n * limit("PHX_EXEC_STATUS_PAGE")
    hwm = agent.settle()
    report("attack14-exec-flood", commands=n, settled_hwm_mib=hwm / MIB)
    agent.assert_hwm("attack14-exec-flood")
