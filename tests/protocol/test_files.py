"""File and directory commands, each checked against the real file system."""
import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest

from conftest import b64, needs_root, unb64, wait_until

EBADF, ENOENT, EEXIST, ENOTDIR, EINVAL, EMFILE, ETXTBSY = 9, 2, 17, 20, 22, 24, 26


def test_file_write_then_read_back(host, tmp_path):
    path = tmp_path / "out.bin"
    data = os.urandom(100000)
    h = host.ok("file-open", {"path": str(path), "mode": "w"})
    assert isinstance(h, int) and h >= 1
    assert host.ok("file-write", {"handle_id": h, "bufb64": b64(data[:50000])}) is True
    assert host.ok("file-write", {"handle_id": h, "bufb64": b64(data[50000:])}) is True
    assert host.ok("file-close", {"handle_id": h}) is True
    assert path.read_bytes() == data
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

    h = host.ok("file-open", {"path": str(path)})
    got = b""
    while True:
        r = host.ok("file-read", {"handle_id": h, "count": 30000})
        got += unb64(r["bufb64"])
        if r["eof"]:
            break
    assert got == data
    # end of file closed the handle
    code, msg = host.err("file-close", {"handle_id": h})
    assert code == EBADF and "unknown handle" in msg


def test_file_read_default_count_is_4096(host, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"z" * 10000)
    h = host.ok("file-open", {"path": str(path)})
    r = host.ok("file-read", {"handle_id": h})
    assert unb64(r["bufb64"]) == b"z" * 4096 and r["eof"] is False
    host.ok("file-close", {"handle_id": h})


def test_handle_ids_increase_and_are_not_reused(host, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"1")
    ids = []
    for _ in range(3):
        h = host.ok("file-open", {"path": str(path)})
        ids.append(h)
        host.ok("file-close", {"handle_id": h})
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_file_write_eof_writes_then_closes(host, tmp_path):
    path = tmp_path / "eof.txt"
    h = host.ok("file-open", {"path": str(path), "mode": "w", "perm": 0o600})
    assert host.ok("file-write", {"handle_id": h, "bufb64": b64(b"last words"), "eof": True}) is True
    assert path.read_bytes() == b"last words"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert host.err("file-write", {"handle_id": h, "bufb64": ""})[0] == EBADF


def test_file_open_errors(host, tmp_path):
    code, msg = host.err("file-open", {"path": "/nonexistent/x"})
    assert code == ENOENT and msg == "open /nonexistent/x: No such file or directory"
    code, msg = host.err("file-open", {"path": str(tmp_path), "mode": "w"})
    assert code == 21  # EISDIR
    code, msg = host.err("file-open", {"path": str(tmp_path / "a"), "mode": "rw"})
    assert code == EINVAL and "unsupported mode" in msg
    code, msg = host.err("file-open", {"path": str(tmp_path / "a"), "mode": "r", "atomic": True})
    assert code == EINVAL


def test_unknown_handles(host):
    for cmd, extra in (("file-read", {}), ("file-write", {"bufb64": ""}), ("file-close", {})):
        code, msg = host.err(cmd, dict(handle_id=4242, **extra))
        assert code == EBADF and "unknown handle 4242" in msg
    assert host.err("file-close", {"handle_id": -1})[0] == EBADF


def test_invalid_base64_writes_nothing(host, tmp_path):
    path = tmp_path / "f"
    h = host.ok("file-open", {"path": str(path), "mode": "w"})
    for bad in ("abc", "ab!=", "a===", "=abc", "YQ==YQ==", "YW Jj"):
        code, msg = host.err("file-write", {"handle_id": h, "bufb64": bad})
        assert code == EINVAL and "invalid base64" in msg, bad
    assert path.read_bytes() == b""
    host.ok("file-write", {"handle_id": h, "bufb64": "YQ=="})
    host.ok("file-close", {"handle_id": h})
    assert path.read_bytes() == b"a"


def test_too_many_handles(host, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    handles = [host.ok("file-open", {"path": str(path)}) for _ in range(128)]
    code, msg = host.err("file-open", {"path": str(path)})
    assert code == EMFILE and "too many open handles" in msg
    host.ok("file-close", {"handle_id": handles[0]})
    handles[0] = host.ok("file-open", {"path": str(path)})
    for h in handles:
        host.ok("file-close", {"handle_id": h})


def test_handles_survive_reconnect(agent, tmp_path):
    path = tmp_path / "f"
    c1 = agent.connect()
    h = c1.ok("file-open", {"path": str(path), "mode": "w"})
    c1.ok("file-write", {"handle_id": h, "bufb64": b64(b"one,")})
    c1.close()
    c2 = agent.connect()
    c2.ok("file-write", {"handle_id": h, "bufb64": b64(b"two")})
    c2.ok("file-close", {"handle_id": h})
    assert path.read_bytes() == b"one,two"


def test_operations_on_one_handle_keep_their_order(host, tmp_path):
    path = tmp_path / "ordered"
    h = host.ok("file-open", {"path": str(path), "mode": "w"})
    chunks = [bytes([65 + i % 26]) * (300000 if i % 3 == 0 else 10) for i in range(30)]
    msgs = [json.dumps({"execute": "file-write", "arguments": {"handle_id": h, "bufb64": b64(c)},
                        "tag": "w%d" % i}) for i, c in enumerate(chunks)]
    msgs.append(json.dumps({"execute": "file-close", "arguments": {"handle_id": h}, "tag": "close"}))
    msgs.append(json.dumps({"execute": "file-write", "arguments": {"handle_id": h, "bufb64": "YQ=="},
                            "tag": "late"}))
    host.send_raw(("\n".join(msgs) + "\n").encode())
    replies = {r["tag"]: r for r in (host.read_reply() for _ in range(len(msgs)))}
    assert all(replies["w%d" % i].get("return") is True for i in range(30))
    assert replies["close"]["return"] is True
    assert replies["late"]["error"]["code"] == EBADF
    assert path.read_bytes() == b"".join(chunks)


def test_atomic_write_replaces_only_on_close(host, tmp_path):
    path = tmp_path / "config"
    path.write_bytes(b"old contents")
    h = host.ok("file-open", {"path": str(path), "mode": "w", "atomic": True, "perm": 0o640})
    host.ok("file-write", {"handle_id": h, "bufb64": b64(b"new ")})
    assert path.read_bytes() == b"old contents"
    host.ok("file-write", {"handle_id": h, "bufb64": b64(b"contents"), "eof": True})
    assert path.read_bytes() == b"new contents"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["agent.log", "agent.sock", "config"]


def test_atomic_write_survives_agent_death(agent, tmp_path):
    path = tmp_path / "precious"
    path.write_bytes(b"keep me")
    c = agent.connect()
    h = c.ok("file-open", {"path": str(path), "mode": "w", "atomic": True})
    c.ok("file-write", {"handle_id": h, "bufb64": b64(b"half-written garbage")})
    agent.allowed_codes = (-9,)
    agent.proc.kill()
    agent.proc.wait()
    assert path.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["agent.log", "agent.sock", "precious"]


def test_atomic_write_abandoned_by_vanished_host(agent, tmp_path):
    path = tmp_path / "precious"
    path.write_bytes(b"keep me")
    c = agent.connect()
    h = c.ok("file-open", {"path": str(path), "mode": "w", "atomic": True})
    c.ok("file-write", {"handle_id": h, "bufb64": b64(b"partial")})
    c.close()
    assert agent.connect().ok("ping")
    assert path.read_bytes() == b"keep me"


def test_force_replaces_busy_executable(host, tmp_path):
    exe = tmp_path / "prog"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        # ETXTBSY only once the child has exec'ed the file: wait for that, not for a guess.
        wait_until(lambda: os.readlink("/proc/%d/exe" % proc.pid) == str(exe), "%s never ran" % exe)
        code, msg = host.err("file-open", {"path": str(exe), "mode": "w"})
        assert code == ETXTBSY
        h = host.ok("file-open", {"path": str(exe), "mode": "w", "force": True, "perm": 0o755})
        host.ok("file-write", {"handle_id": h, "bufb64": b64(b"#!/bin/sh\n"), "eof": True})
        assert exe.read_bytes() == b"#!/bin/sh\n"
    finally:
        proc.kill()
        proc.wait()


def test_md5_and_hashes(host, tmp_path):
    path = tmp_path / "h"
    data = os.urandom(3 * 1024 * 1024 + 7)
    path.write_bytes(data)
    assert host.ok("get-file-md5sum", {"path": str(path)}) == hashlib.md5(data).hexdigest()
    assert host.ok("get-file-hash", {"path": str(path)}) == hashlib.sha256(data).hexdigest()
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert host.ok("get-file-hash", {"path": str(path), "algorithm": algo}) == \
            hashlib.new(algo, data).hexdigest()
    code, msg = host.err("get-file-hash", {"path": str(path), "algorithm": "crc32"})
    assert code == EINVAL and "unknown algorithm" in msg
    code, msg = host.err("get-file-md5sum", {"path": str(tmp_path / "none")})
    assert code == ENOENT
    code, msg = host.err("get-file-md5sum", {"path": str(tmp_path)})
    assert code == 21  # EISDIR from read


def test_md5_of_fifo_without_writer_does_not_hang(host, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Only regular files and block devices are hashed: a FIFO might never end.
    code, msg = host.err("get-file-md5sum", {"path": str(fifo)})
    assert code == EINVAL and "not a regular file" in msg


@needs_root("chown to another user")
def test_chmod_and_chown(host, tmp_path):
    path = tmp_path / "c"
    path.write_bytes(b"")
    assert host.ok("file-chmod", {"path": str(path), "perm": 0o751}) is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    assert host.ok("file-chown", {"path": str(path), "uid": 1234, "gid": 5678}) is True
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert host.ok("file-chown", {"path": str(path), "gid": -1}) is True
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (0, 5678)
    assert host.err("file-chmod", {"path": str(tmp_path / "none"), "perm": 0o644})[0] == ENOENT
    assert host.err("file-chown", {"path": str(tmp_path / "none")})[0] == ENOENT
    assert host.err("file-chmod", {"path": str(path)})[0] == EINVAL


def test_file_stat(host, tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"12345")
    r = host.ok("file-stat", {"path": str(path)})
    st = os.lstat(path)
    assert r["name"] == "s" and r["isdir"] is False
    s = r["stat"]
    assert list(s) == ["Dev", "Ino", "Nlink", "Mode", "Uid", "Gid", "X__pad0", "Rdev", "Size",
                       "Blksize", "Blocks", "Atim", "Mtim", "Ctim", "X__unused"]
    assert (s["Dev"], s["Ino"], s["Nlink"], s["Mode"], s["Size"]) == \
        (st.st_dev, st.st_ino, st.st_nlink, st.st_mode, 5)
    assert s["Mtim"] == {"Sec": st.st_mtime_ns // 10**9, "Nsec": st.st_mtime_ns % 10**9}
    assert s["X__unused"] == [0, 0, 0]
    os.symlink(tmp_path, tmp_path / "link")
    r = host.ok("file-stat", {"path": str(tmp_path / "link")})
    assert r["isdir"] is False and stat.S_ISLNK(r["stat"]["Mode"])
    assert host.ok("file-stat", {"path": str(tmp_path)})["isdir"] is True
    assert host.err("file-stat", {"path": str(tmp_path / "none")})[0] == ENOENT


def test_directory_create(host, tmp_path):
    deep = tmp_path / "a" / "b" / "c"
    assert host.ok("directory-create", {"path": str(deep)}) is True
    assert deep.is_dir() and stat.S_IMODE(os.stat(deep).st_mode) == 0o755
    assert host.ok("directory-create", {"path": str(deep)}) is True  # like mkdir -p
    assert host.ok("directory-create", {"path": str(tmp_path / "p"), "perm": 0o700})
    assert stat.S_IMODE(os.stat(tmp_path / "p").st_mode) == 0o700
    (tmp_path / "file").write_bytes(b"")
    code, _ = host.err("directory-create", {"path": str(tmp_path / "file" / "sub")})
    assert code == ENOTDIR


def test_directory_list(host, tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    for name in ("b", "a", "c"):
        (d / name).write_bytes(name.encode())
    (d / "sub").mkdir()
    entries = host.ok("directory-list", {"path": str(d)})
    assert [e["name"] for e in entries] == ["a", "b", "c", "sub"]
    assert [e["isdir"] for e in entries] == [False, False, False, True]
    assert entries[0]["stat"]["Ino"] == os.lstat(d / "a").st_ino
    assert [e["name"] for e in host.ok("directory-list", {"path": str(d), "n": 2})] == ["a", "b"]
    assert len(host.ok("directory-list", {"path": str(d), "n": 0})) == 4
    assert host.err("directory-list", {"path": str(d / "a")})[0] == ENOTDIR
    assert host.err("directory-list", {"path": str(tmp_path / "none")})[0] == ENOENT


def test_large_transfer_round_trip(host, tmp_path):
    src = tmp_path / "src"
    data = os.urandom(40 * 1024 * 1024)
    src.write_bytes(data)
    h = host.ok("file-open", {"path": str(src)})
    r = host.ok("file-read", {"handle_id": h, "count": 48 * 1024 * 1024})
    assert r["eof"] is True and unb64(r["bufb64"]) == data
    dst = tmp_path / "dst"
    h = host.ok("file-open", {"path": str(dst), "mode": "w"})
    host.ok("file-write", {"handle_id": h, "bufb64": b64(data), "eof": True})
    assert hashlib.md5(dst.read_bytes()).digest() == hashlib.md5(data).digest()


def test_read_at_end_of_file_returns_empty_and_closes(host, tmp_path):
    path = tmp_path / "exact"
    path.write_bytes(b"0123456789")
    h = host.ok("file-open", {"path": str(path)})
    r = host.ok("file-read", {"handle_id": h, "count": 10})
    assert unb64(r["bufb64"]) == b"0123456789" and r["eof"] is False
    r = host.ok("file-read", {"handle_id": h, "count": 10})
    assert r == {"bufb64": "", "eof": True}
    assert host.ok("ping") == "0.1.0"
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    h = host.ok("file-open", {"path": str(empty)})
    assert host.ok("file-read", {"handle_id": h}) == {"bufb64": "", "eof": True}
