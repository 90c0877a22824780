"""qemu-ga's file commands on phoenix-ga alone: the cases with no qemu-ga behaviour to
compare with (one handle table for both dialects, handle ids across restarts, a read that
waits on a FIFO while the agent answers, reads encoded in place and pipelined, the
absolute-path rule). The side-by-side cases are in test_qga_files_vs_qemu_ga.py."""
import base64
import json
import os
import time

from conftest import Agent
from qgalib import HELLO, Session, b64


# ---- deliberately different: paths are absolute ----

def test_relative_path_is_refused(agent, tmp_path):
    """Deliberately different: qemu-ga opens a relative path from its working directory
    (where it was started: / as a daemon); we require an absolute path."""
    s = Session(agent.sock_path, tmp_path)
    try:
        s.sock.sendall(b'{"execute":"guest-file-open","arguments":{"path":"rel","mode":"w"}}')
        r = s.reply()
    finally:
        s.close()
    assert r == {"error": {"class": "GenericError",
                           "desc": "argument 'path' must be an absolute path, not 'rel'"}}
    assert not (tmp_path / "rel").exists()


# ---- FIFOs ----

def test_fifo_with_silent_writer_waits_without_stopping_the_agent(agent, tmp_path):
    """A read on a FIFO whose writer writes nothing waits (bounded by PHX_STREAM_WAIT_MS) on
    its handle only: the agent answers meanwhile (a Phoenix ping on the same connection: the
    qemu-ga replies behind the read keep their order), and closing the handle ends the wait
    at once."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = Session(agent.sock_path, tmp_path)
    writer_fd = None
    try:
        h = reader.call("guest-file-open", {"path": str(fifo)})["return"]
        writer_fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        t0 = time.monotonic()
        reader.send("guest-file-read", {"handle": h})
        reader.send("guest-ping")
        reader.sock.sendall(b'{"execute":"ping","tag":"p"}\n')
        assert reader.reply()["tag"] == "p"  # answered while the read waits
        reader.send("guest-file-close", {"handle": h})
        first, second, third = reader.reply(), reader.reply(), reader.reply()
        assert time.monotonic() - t0 < 5
        assert first["error"]["class"] == "GenericError" and "handle is being closed" in first["error"]["desc"]
        assert second == third == {"return": {}}
    finally:
        reader.close()
        if writer_fd is not None:
            os.close(writer_fd)


# ---- handles: one table for both dialects, ids never given twice ----

def test_one_table_for_both_dialects(host, tmp_path):
    """A handle opened in one dialect is used and closed in the other (here on one connection)."""
    def qga(execute, arguments):
        host.send_raw(json.dumps({"execute": execute, "arguments": arguments}).encode())
        return host.read_reply()

    path = tmp_path / "shared"
    path.write_bytes(HELLO)
    h = host.ok("file-open", {"path": str(path)})
    assert qga("guest-file-read", {"handle": h, "count": 5}) == {
        "return": {"count": 5, "buf-b64": b64(HELLO[:5]), "eof": False}}
    # a Phoenix read at end of file closes the handle, as the Phoenix contract says
    assert host.ok("file-read", {"handle_id": h}) == {"bufb64": b64(HELLO[5:]), "eof": True}
    assert qga("guest-file-close", {"handle": h})["error"]["desc"] == "handle '%d' has not been found" % h
    g = qga("guest-file-open", {"path": str(path), "mode": "a"})["return"]
    assert g > h
    assert host.ok("file-write", {"handle_id": g, "bufb64": b64(b"+"), "eof": True}) is True
    assert path.read_bytes() == HELLO + b"+"
    assert qga("guest-file-flush", {"handle": g})["error"]["desc"] == "handle '%d' has not been found" % g
    assert host.err("file-close", {"handle_id": g})[1] == "unknown handle %d" % g


def test_handle_ids_not_reused_across_restarts(tmp_path):
    """A host still holding a handle from before the agent restarted must not reach a file
    opened since: ids continue after the last run's (state in the runtime directory)."""
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "run").mkdir(mode=0o700)  # as the unit's RuntimeDirectory= makes it
    seen = []
    for run in range(3):
        a = Agent(tmp_path)
        try:
            s = Session(a.sock_path, tmp_path)
            old = [s.call("guest-file-read", {"handle": h}) for h in seen]
            for r, h in zip(old, seen):
                assert r == {"error": {"class": "GenericError", "desc": "handle '%d' has not been found" % h}}
            for _ in range(3):
                seen.append(s.call("guest-file-open", {"path": str(tmp_path / "f")})["return"])
            s.close()
        finally:
            assert a.stop() in (0, -15)
    assert seen == sorted(set(seen))
    assert seen[0] == 1  # a fresh runtime directory: from 1, as the Phoenix contract says
    assert seen[3] > seen[2] and seen[6] > seen[5]
    assert int((tmp_path / "run" / "handle-ids").read_text()) > seen[-1]


def test_handle_id_state_file_unwritable_still_serves(tmp_path):
    """No usable state file: ids start at 1 (and a warning says they may repeat)."""
    (tmp_path / "run" / "handle-ids").mkdir(parents=True)
    a = Agent(tmp_path)
    try:
        s = Session(a.sock_path, tmp_path)
        (tmp_path / "f").write_bytes(b"x")
        assert s.call("guest-file-open", {"path": str(tmp_path / "f")}) == {"return": 1}
        assert s.call("guest-file-open", {"path": str(tmp_path / "f")}) == {"return": 2}
        s.close()
    finally:
        assert a.stop() in (0, -15)
    assert a.log_path.read_text().count("handle ids may repeat after a restart") == 1


def test_no_runtime_directory_none_made(agent, tmp_path):
    """Without its runtime directory the agent makes none for the ids (the service makes it,
    the freezer when it freezes): ids start at 1 and the log says they may repeat."""
    s = Session(agent.sock_path, tmp_path)
    try:
        (tmp_path / "f").write_bytes(b"x")
        assert s.call("guest-file-open", {"path": str(tmp_path / "f")}) == {"return": 1}
    finally:
        s.close()
    assert not (tmp_path / "run").exists()
    assert "handle ids start at 1 and may repeat after a restart" in agent.log_path.read_text()


# ---- large and pipelined reads ----

def test_read_encodes_every_length_and_count(agent, tmp_path):
    """guest-file-read encodes in place, in the buffer its count sized: every length read
    with counts from exactly it to far more than it comes back intact (the fast six-byte
    steps, the three-byte steps and the padded tail, at every offset)."""
    s = Session(agent.sock_path, tmp_path)
    data = os.urandom(120)
    try:
        for n in range(0, 90):
            (tmp_path / "f").write_bytes(data[:n])
            for count in sorted({max(n, 1), n + 1, n + 2, n + 5, n + 13, 3 * n + 20}):
                h = s.call("guest-file-open", {"path": str(tmp_path / "f")})["return"]
                r = s.call("guest-file-read", {"handle": h, "count": count})["return"]
                assert r == {"count": n, "buf-b64": b64(data[:n]), "eof": n < count}, (n, count)
                s.call("guest-file-close", {"handle": h})
    finally:
        s.close()


def test_large_reads_pipelined_on_two_handles(agent, tmp_path):
    """Large reads reuse a kept buffer: with several replies in flight at once, on two handles,
    every reply still carries its own bytes."""
    a, b = os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024)
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    s = Session(agent.sock_path, tmp_path)
    chunk = 1024 * 1024 + 1
    try:
        ha = s.call("guest-file-open", {"path": str(tmp_path / "a")})["return"]
        hb = s.call("guest-file-open", {"path": str(tmp_path / "b")})["return"]
        for i in range(5):
            for h in (ha, hb):
                s.sock.sendall(json.dumps({"execute": "guest-file-read", "id": [h, i],
                                           "arguments": {"handle": h, "count": chunk}}).encode())
        # each handle's reads run in order; the two handles' replies may interleave
        parts = {}
        for _ in range(10):
            r = s.reply()
            parts[tuple(r["id"])] = base64.b64decode(r["return"]["buf-b64"], validate=True)
        got = {h: b"".join(parts[(h, i)] for i in range(5)) for h in (ha, hb)}
        assert got[ha] == a[:5 * chunk] and got[hb] == b[:5 * chunk]
        for h in (ha, hb):
            assert s.call("guest-file-close", {"handle": h}) == {"return": {}}
    finally:
        s.close()
