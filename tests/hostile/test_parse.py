"""Attack 1 and 10 (c, d): lines that are costly to parse or to hold.

Before (plain build, bfe4bc9):
  1.  one write holding a 60 MiB line of 10 Mi `\\u00e9` escapes then an 81 MiB line: SIGSEGV.
  10c. file-reads queued behind a read blocked on a silent FIFO, each carrying an unknown
       member: 400 x 1 MiB string: 137 MB peak (within the bound already, kept as a guard);
       1000 x 9000 small values: 765 MB peak (18 MB of requests).
  10d. one 8 MiB request whose argument is `[{},{},...]`: 888 MB peak; now refused with
       "too many JSON values" (PHX_JSON_NODES_MAX).
"""
import time

import pytest

from conftest import MIB, SERVE_BOUND, encode, error_text, limit, report, timed

pytestmark = pytest.mark.timeout(240)


def test_slow_line_then_overlong_line(agent, host):
    """Attack 1: both lines in one write; the agent answers both and keeps serving."""
    escapes = b'{"execute":"ping","arguments":{"x":"' + b"\\u00e9" * (10 * MIB) + b'"},"tag":"slow"}\n'
    overlong = b'{"execute":"ping","arguments":{"x":"' + b"a" * (81 * MIB) + b'"},"tag":"long"}\n'
    t = time.monotonic()
    host.send_background(escapes + overlong)
    first = host.read_reply(120)
    second = host.read_reply(120)
    host.send_done()
    elapsed = time.monotonic() - t
    assert first.get("tag") == "slow" and "return" in first, first
    assert second.get("tag") == "" and "request too long" in error_text(second), second
    _, ping_time = timed(host.ok, "ping", timeout=SERVE_BOUND)
    report("attack1-slow-then-overlong", seconds=elapsed, ping_after=ping_time)
    agent.assert_hwm("attack1-slow-then-overlong")


def test_many_values_refused(agent, host):
    """Attack 10d: an 8 MiB `[{},{},...]` argument would build ~2.8 M json-glib nodes."""
    count = 8 * MIB // 3
    line = (b'{"execute":"ping","arguments":{"x":[' + b",".join([b"{}"] * count) +
            b']},"tag":"many"}\n')
    host.send_raw(line)
    reply, seconds = timed(host.read_reply, 60)
    assert reply.get("tag") in ("many", ""), reply
    assert "error" in reply and "too many JSON values" in error_text(reply), reply
    host.ok("ping", timeout=SERVE_BOUND)
    report("attack10d-many-values", seconds=seconds)
    agent.assert_hwm("attack10d-many-values")


def test_nodes_limit_edge(host):
    """The budget is a count of values: the largest allowed tree passes, one more fails."""
    nodes_max = limit("PHX_JSON_NODES_MAX")
    # envelope object, "execute" string, "arguments" object, "tag" string, "x" array = 5 values
    fits = nodes_max - 5

    def line(n, tag):
        return (b'{"execute":"ping","arguments":{"x":[' + b",".join([b"0"] * n) +
                b']},"tag":"' + tag.encode() + b'"}\n')
    host.send_raw(line(fits, "fits"))
    assert "return" in host.read_reply(), "a request of exactly PHX_JSON_NODES_MAX values is accepted"
    host.send_raw(line(fits + 1, "over"))
    reply = host.read_reply()
    assert "too many JSON values" in error_text(reply), reply


# (junk member, requests): one large string each, or the most small values a request may hold
UNKNOWN = {
    "string": ("j" * MIB, 400),
    "values": ([0] * 9000, 1000),
}


@pytest.mark.parametrize("shape", sorted(UNKNOWN))
def test_large_unknown_members_behind_blocked_read(agent, fifos, shape):
    """Attack 10c: unknown members are ignored, but must not be held by the hundred."""
    junk, count = UNKNOWN[shape]
    host = agent.connect()
    fifo = fifos.make("silent")
    handle = host.ok("file-open", {"path": fifo})
    host.send("file-read", {"handle_id": handle, "count": 1}, tag="blocker")
    burst = b"".join(encode("file-read", {"handle_id": handle, "count": 1, "junk": junk}, "r%d" % i)
                     for i in range(count))
    host.send_background(burst)
    hwm = agent.settle()
    report("attack10c-unknown-members-" + shape, requests=count, request_bytes=len(burst),
           settled_hwm_mib=hwm / MIB)
    agent.assert_hwm("attack10c-unknown-members-" + shape)
    # Unblock: the FIFO's last writer leaves, the blocked read meets EOF (and closes the
    # handle), the queued ones answer EBADF; every request gets its reply.
    fifos.release(fifo)
    host.send_done(60)
    tags = {host.read_reply(60).get("tag") for _ in range(count + 1)}
    assert "blocker" in tags and "r%d" % (count - 1) in tags
    agent.assert_hwm("attack10c-unknown-members-" + shape)
