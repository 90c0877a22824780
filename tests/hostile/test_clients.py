"""Attack 15 (issue 14): many clients at once, each pipelining requests and never reading a reply.

Before (one client at a time): the other clients waited in the backlog for ever (the first one
never left). Now every client has its own bound on unread replies (PHX_CLIENT_QUEUE_HIGH): the
agent stops reading a client that reads nothing, the others keep being served, and the whole
attack stays within PHX_MEMORY_HWM_MAX.
"""
import pytest

from conftest import MIB, SERVE_BOUND, Agent, encode, limit, report, sparse_file, timed

pytestmark = pytest.mark.timeout(300)

CLIENTS = limit("PHX_CLIENTS_LIMIT")


@pytest.fixture
def crowded(tmp_path):
    a = Agent(tmp_path, args=["--clients-max", str(CLIENTS)])
    try:
        yield a
    finally:
        died = a.proc.returncode if not a.alive() else None
        hwm = a.hwm() if a.alive() else None
        code = a.stop()
    assert died is None, "agent died during the test with status %r" % died
    assert code in (0, -15), "agent exited with %r" % code
    if hwm is not None:
        report("attack15-end", hwm_mib=hwm / MIB)


def burst(tmp_path, k, n=30_000):
    return b"".join(encode("ping", None, "c%d-%d" % (k, i)) if i % 4 else
                    encode("file-stat", {"path": str(tmp_path / "f")}, "c%d-%d" % (k, i))
                    for i in range(n))


def test_many_clients_pipeline_and_never_read(crowded, tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 4096)
    attackers = [crowded.connect() for _ in range(CLIENTS - 1)]
    for k, c in enumerate(attackers):
        c.send_background(burst(tmp_path, k))
    hwm = crowded.settle()
    report("attack15-settled", clients=CLIENTS - 1, settled_hwm_mib=hwm / MIB)
    crowded.assert_hwm("attack15-many-clients-never-read")
    # The last slot is served at once, whatever the others left unread.
    last = crowded.connect()
    version, seconds = timed(last.ok, "ping", timeout=SERVE_BOUND)
    report("attack15-last-client", ping_s=seconds)
    assert isinstance(version, str)
    # Each attacker gets its own replies and nobody else's, once it reads.
    for k, c in enumerate(attackers[:8]):
        tags = [c.read_reply()["tag"] for _ in range(200)]
        assert all(t.startswith("c%d-" % k) for t in tags), (k, tags[:5])
    crowded.assert_hwm("attack15-many-clients-never-read")


def test_large_reads_never_read_do_not_hold_up_another_clients_requests(tmp_path):
    # A client that pipelines big file-reads and reads nothing takes at most its share of the
    # shared budget (PHX_CLIENT_REPLY_SHARE of PHX_BUDGET_HIGH): its next large command waits
    # for it to read, it stops being read by its own bound, and another client is still read
    # and answered at once, its own 4 MiB read too (before: every client waited until the
    # hoarder's stall timeout let it go).
    stall = 60
    a = Agent(tmp_path, args=["--client-stall-timeout", str(stall)])
    try:
        attacker = a.connect()
        handle = attacker.ok("file-open", {"path": sparse_file(tmp_path / "big", 400 * MIB)})
        attacker.send_background(b"".join(encode("file-read", {"handle_id": handle, "count": MIB}, "r%d" % i)
                                          for i in range(300)))
        a.settle(quiet=0.5)
        a.assert_hwm("attack15b-large-reads")
        other = a.connect()
        version, seconds = timed(other.ok, "ping", timeout=SERVE_BOUND)
        report("attack15b-other-client", ping_s=seconds, stall_timeout_s=stall)
        assert isinstance(version, str) and seconds < SERVE_BOUND
        st, seconds = timed(other.ok, "file-stat", {"path": str(tmp_path)}, timeout=SERVE_BOUND)
        assert st["isdir"] and seconds < SERVE_BOUND
        h2 = other.ok("file-open", {"path": sparse_file(tmp_path / "small", 8 * MIB)})
        data, seconds = timed(other.ok, "file-read", {"handle_id": h2, "count": 4 * MIB}, timeout=SERVE_BOUND)
        report("attack15b-other-client-read", read_s=seconds)
        assert len(data["bufb64"]) == 4 * ((4 * MIB + 2) // 3) and seconds < SERVE_BOUND
        a.assert_hwm("attack15b-large-reads")
    finally:
        assert a.stop() in (0, -15)
