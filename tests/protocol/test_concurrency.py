"""Slow commands run off the main loop: others are answered meanwhile."""
import json
import os
import time

from conftest import b64


def test_ping_answered_while_md5_of_768mib_runs(host, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.truncate(768 * 1024 * 1024)
    host.send_raw(json.dumps({"execute": "get-file-md5sum", "arguments": {"path": str(big)},
                              "tag": "md5"}).encode() + b"\n")
    time.sleep(0.05)
    host.send_raw(b'{"execute":"ping","tag":"ping"}\n')
    first = host.read_reply()
    second = host.read_reply(timeout=120)
    assert first["tag"] == "ping", "ping waited behind the md5"
    assert second["tag"] == "md5" and len(second["return"]) == 32


def test_ping_answered_while_a_large_write_is_parsed(host, tmp_path):
    path = tmp_path / "w"
    h = host.ok("file-open", {"path": str(path), "mode": "w"})
    data = os.urandom(24 * 1024 * 1024)
    msg = json.dumps({"execute": "file-write", "arguments": {"handle_id": h, "bufb64": b64(data)},
                      "tag": "big"}).encode() + b"\n"
    host.send_raw(msg + b'{"execute":"sysinfo","tag":"after"}\n')
    tags = [host.read_reply(timeout=60)["tag"] for _ in range(2)]
    assert sorted(tags) == ["after", "big"]
    host.ok("file-close", {"handle_id": h})
    assert path.read_bytes() == data
