"""Attacks 8 and 13: the handle table.

Before (plain build, bfe4bc9):
  8.  with 128 handles open, file-open mode "w" of an existing 14,000-byte file answered EMFILE
      but had already truncated it to 0 bytes (with or without "force"; "atomic" was safe);
      with "force" on a running executable (ETXTBSY): the executable was unlinked and
      replaced by an empty file (new inode, 0 bytes).
  13. file-opens whose replies were dropped because the host left leaked their handles: after
      200 open-and-disconnect cycles, 0 of 128 new file-opens succeeded (EMFILE).
"""
import os
import shutil
import subprocess

import pytest

from conftest import limit, report

pytestmark = pytest.mark.timeout(180)

HANDLES_MAX = limit("PHX_HANDLES_MAX")
EMFILE = 24


@pytest.fixture
def full_table(host, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"s")
    handles = [host.ok("file-open", {"path": str(src)}) for _ in range(HANDLES_MAX)]
    code, message = host.err("file-open", {"path": str(src)})
    assert code == EMFILE, message
    return handles


@pytest.mark.parametrize("extra", [{}, {"force": True}, {"atomic": True}])
def test_full_table_leaves_target_intact(host, tmp_path, full_table, extra):
    target = tmp_path / "target"
    data = os.urandom(14_000)
    target.write_bytes(data)
    before = os.stat(target)
    args = {"path": str(target), "mode": "w"}
    args.update(extra)
    code, message = host.err("file-open", args)
    after = os.stat(target)
    report("attack8-" + ("-".join(extra) or "plain"), size_after=after.st_size,
           same_inode=after.st_ino == before.st_ino)
    assert code == EMFILE, message
    assert after.st_ino == before.st_ino, "the target was unlinked"
    assert target.read_bytes() == data, "the target was changed"
    # A handle freed makes room again.
    host.ok("file-close", {"handle_id": full_table[0]})
    handle = host.ok("file-open", args)
    host.ok("file-close", {"handle_id": handle})


def test_full_table_keeps_running_executable(host, tmp_path, full_table):
    """`force` unlinks a busy executable (ETXTBSY) to replace it: not when no handle is free."""
    target = tmp_path / "busy"
    shutil.copy("/bin/sleep", target)
    data = target.read_bytes()
    proc = subprocess.Popen([str(target), "60"])
    try:
        before = os.stat(target)
        code, message = host.err("file-open", {"path": str(target), "mode": "w", "force": True})
        present = os.path.exists(target)
        report("attack8-force-busy", present_after=present,
               same_inode=present and os.stat(target).st_ino == before.st_ino)
        assert code == EMFILE, message
        assert present and os.stat(target).st_ino == before.st_ino, "the target was unlinked"
        assert target.read_bytes() == data
    finally:
        proc.kill()
        proc.wait()


def test_dropped_open_replies_do_not_leak(agent, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"s")
    for i in range(200):
        c = agent.connect()
        c.send("file-open", {"path": str(src)})
        c.close()  # before the reply can arrive: it is dropped
    host = agent.connect()
    opened = 0
    for _ in range(HANDLES_MAX):
        reply = host.request("file-open", {"path": str(src)})
        if "error" in reply:
            break
        opened += 1
    report("attack13-dropped-opens", opened_after=opened)
    assert opened == HANDLES_MAX
