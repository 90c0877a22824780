"""Attack 11: work that never ends must not hold anything else.

Before (plain build, bfe4bc9):
  md5 of /dev/zero ran for ever (no reply; the worker hashed until the agent died);
  a read on a silent FIFO blocked file-close of the same handle for ever;
  60 reads blocked on silent FIFOs delayed an unrelated file-stat by ~11 s.
"""
import time

import pytest

from conftest import SERVE_BOUND, encode, error_text, report, timed

pytestmark = pytest.mark.timeout(120)

EINVAL = 22


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "fifo"])
def test_endless_hash_refused(host, fifos, path):
    if path == "fifo":
        path = fifos.make("silent")
    for command, args in (("get-file-md5sum", {}), ("get-file-hash", {"algorithm": "sha256"})):
        args = dict(args, path=path)
        reply, seconds = timed(host.request, command, args, timeout=SERVE_BOUND)
        report("attack11-hash-" + path.rsplit("/", 1)[-1], seconds=seconds)
        assert "error" in reply and reply["error"]["code"] == EINVAL, reply
        assert "not a regular file" in error_text(reply)


def test_hash_regular_file_still_works(host, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    assert host.ok("get-file-md5sum", {"path": str(f)}) == "900150983cd24fb0d6963f7d28e17f72"


def test_close_not_held_by_blocked_read(host, fifos):
    handle = host.ok("file-open", {"path": fifos.make("silent")})
    read_tag = host.send("file-read", {"handle_id": handle, "count": 4096})
    time.sleep(0.2)  # let the read reach its worker and block (a test of the worst case)
    close_tag = host.send("file-close", {"handle_id": handle})
    t = time.monotonic()
    replies = {}
    while len(replies) < 2:
        reply = host.read_reply(max(0.01, SERVE_BOUND - (time.monotonic() - t)))
        replies[reply["tag"]] = reply
    report("attack11-close-vs-read", seconds=time.monotonic() - t)
    assert "return" in replies[close_tag], replies
    assert read_tag in replies


def test_blocked_workers_do_not_delay_stat(host, fifos, tmp_path):
    handles = [host.ok("file-open", {"path": fifos.make("f%d" % i)}) for i in range(60)]
    # The 60 reads and the stat leave in one write: the stat must not wait for workers to
    # be added one by one behind reads that will never end.
    burst = b"".join(encode("file-read", {"handle_id": h, "count": 1}, "r%d" % h) for h in handles)
    t = time.monotonic()
    host.send_raw(burst + encode("file-stat", {"path": str(tmp_path)}, "stat"))
    reply = host.wait_for("stat", 60)
    seconds = time.monotonic() - t
    report("attack11-stat-behind-60-blocked", seconds=seconds)
    assert reply["return"]["isdir"] is True
    assert seconds <= SERVE_BOUND
