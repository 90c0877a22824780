"""Slow work runs off the main loop: a request sent behind it is answered first.

Every assertion here is about order, never about time: both requests go out in one write, so
the agent has the slow one before the quick one, and the quick one's reply must still come
out first. An agent that did the slow work on its main loop would answer in arrival order
and fail these tests however fast the machine is."""
import hashlib
import json
import os

from conftest import b64


def test_ping_answered_while_md5_of_768mib_runs(host, tmp_path):
    big = tmp_path / "big"
    head = os.urandom(1 << 20)
    with open(big, "wb") as f:
        f.write(head)
        f.truncate(768 * 1024 * 1024)
    host.send_raw(json.dumps({"execute": "get-file-md5sum", "arguments": {"path": str(big)},
                              "tag": "md5"}).encode() + b"\n" + b'{"execute":"ping","tag":"ping"}\n')
    first = host.read_reply()
    second = host.read_reply(timeout=120)
    assert first["tag"] == "ping", "ping waited behind the md5"
    md5 = hashlib.md5(head)
    zeros = bytes(1 << 20)
    for _ in range(767):
        md5.update(zeros)
    assert second == {"return": md5.hexdigest(), "tag": "md5"}


def test_ping_behind_a_large_write_is_answered_before_the_write(host, tmp_path):
    """A ping sent right behind a 36 MiB file-write line is answered before the write.

    Lines are taken in arrival order (a request may depend on the one before it, e.g. a read
    after a write on one handle), so the ping waits for the large line's parse, which runs in a
    worker while the main loop serves other connections; it does not wait for the write.

    The write line is at least PHX_REQUEST_OFFLOAD_MIN long, so it is parsed in a worker,
    and it carries an unknown string member of four million \\u00e9 escapes (ignored by the
    command) that makes its parse take far longer than the ping's: the ping is on the agent's
    side of the socket for the whole parse and the write that follows."""
    path = tmp_path / "w"
    h = host.ok("file-open", {"path": str(path), "mode": "w"})
    data = os.urandom(24 * 1024 * 1024)
    pad = b'"' + b"\\u00e9" * 4_000_000 + b'"'
    msg = (b'{"execute":"file-write","arguments":{"handle_id":%d,"padding":%s,"bufb64":"%s"},'
           b'"tag":"big"}\n' % (h, pad, b64(data).encode()))
    host.send_raw(msg + b'{"execute":"ping","tag":"after"}\n')
    first = host.read_reply(timeout=120)
    second = host.read_reply(timeout=120)
    assert first == {"return": "0.1.0", "tag": "after"}, "the ping waited for the write's reply"
    assert second == {"return": True, "tag": "big"}
    host.ok("file-close", {"handle_id": h})
    assert path.read_bytes() == data
