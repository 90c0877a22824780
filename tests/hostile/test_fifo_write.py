"""Attack 12: file-writes to a FIFO nobody reads must not stop other requests.

Before (plain build, bfe4bc9): three 40 MiB file-writes to a silent FIFO stopped the agent
from answering a ping on the same connection, and the next connection was never served.
"""
import pytest

from conftest import MIB, SERVE_BOUND, b64, encode, report, timed

pytestmark = pytest.mark.timeout(180)

CHUNK = b64(b"w" * (40 * MIB))


def writes(handle):
    return b"".join(encode("file-write", {"handle_id": handle, "bufb64": CHUNK}, "w%d" % i)
                    for i in range(3))


def test_ping_same_connection(agent, fifos):
    host = agent.connect()
    handle = host.ok("file-open", {"path": fifos.make("silent"), "mode": "w"})
    host.send_background(writes(handle) + encode("ping", tag="after"))
    # The 160 MB take about a second to cross the socket; then the ping must be answered.
    reply, seconds = timed(host.wait_for, "after", SERVE_BOUND + 10)
    report("attack12-ping-same-connection", seconds=seconds)
    assert "return" in reply
    agent.assert_hwm("attack12-ping-same-connection")


def test_next_connection_served(agent, fifos):
    first = agent.connect()
    handle = first.ok("file-open", {"path": fifos.make("silent"), "mode": "w"})
    first.send_background(writes(handle))
    first.send_done(SERVE_BOUND + 10)
    first.close()
    second = agent.connect()
    _, seconds = timed(second.ok, "ping", timeout=SERVE_BOUND)
    report("attack12-next-connection", seconds=seconds)
    agent.assert_hwm("attack12-next-connection")
