"""Framing and envelope: what any request line gets back, good or bad."""
import json
import socket
import time

import pytest

from conftest import Client, error_text, holds_open, wait_until

EINVAL = 22
LIMIT = 80 * 1024 * 1024  # PHX_REQUEST_MAX


def test_ping_returns_version_and_echoes_tag(host):
    reply = host.request("ping", tag="abc")
    assert reply == {"return": "0.1.0", "tag": "abc"}


def test_reply_is_one_compact_line_with_single_lf(host):
    host.send_raw(b'{"execute": "ping", "tag": "z"}\r\n')
    line = host.read_line()
    assert line == b'{"return":"0.1.0","tag":"z"}'
    assert b"\r" not in line


def test_missing_tag_echoes_empty_string(host):
    host.send_raw(b'{"execute":"ping"}\n')
    assert host.read_reply() == {"return": "0.1.0", "tag": ""}


def test_get_commands_lists_every_command(host):
    names = host.ok("get-commands")
    expected = {"ping", "get-commands", "agent-shutdown", "file-open", "file-read", "file-write",
                "file-close", "get-file-md5sum", "get-file-hash", "file-chown", "file-chmod",
                "file-stat", "directory-create", "directory-list", "sysinfo"}
    assert expected <= set(names)
    assert len(names) == len(set(names))


def test_unknown_command(host):
    reply = host.request("no-such-thing", tag="u")
    assert reply["error"]["code"] == -1
    assert error_text(reply) == "Unknown command: no-such-thing"


def test_parse_error_has_empty_tag(host):
    host.send_raw(b'{"execute": "ping", "tag": "x"\n')
    reply = host.read_reply()
    assert reply["tag"] == "" and reply["error"]["code"] == -1
    assert error_text(reply).startswith("JSON parse error")
    assert host.ok("ping") == "0.1.0"


def test_non_object_requests(host):
    for raw in (b"[1,2]", b'"ping"', b"42", b"null", b"true"):
        host.send_raw(raw + b"\n")
        reply = host.read_reply()
        assert reply["error"]["code"] == EINVAL, raw
        assert "must be a JSON object" in error_text(reply)


def test_execute_must_be_string(host):
    host.send_raw(b'{"execute": 5, "tag": "t"}\n')
    reply = host.read_reply()
    assert reply["tag"] == "t" and reply["error"]["code"] == EINVAL
    assert "'execute' must be a string" in error_text(reply)
    host.send_raw(b'{"tag": "m"}\n')
    reply = host.read_reply()
    assert reply["tag"] == "m" and "no 'execute'" in error_text(reply)


def test_arguments_must_be_object(host):
    host.send_raw(b'{"execute": "ping", "arguments": [1], "tag": "a"}\n')
    reply = host.read_reply()
    assert reply["error"]["code"] == EINVAL and "'arguments' must be an object" in error_text(reply)


def test_non_string_tag(host):
    host.send_raw(b'{"execute": "ping", "tag": 7}\n')
    reply = host.read_reply()
    assert reply["tag"] == "" and reply["error"]["code"] == EINVAL


def test_invalid_utf8_and_nul(host):
    host.send_raw(b'{"execute": "ping", "tag": "\xff\xfe"}\n')
    reply = host.read_reply()
    assert reply["tag"] == "" and "UTF-8" in error_text(reply)
    host.send_raw(b'{"execute": "ping", "tag": "a\\u0000b"}\n')
    assert "NUL" in error_text(host.read_reply())
    host.send_raw(b'{"execute": "ping"\x00}\n')
    assert "NUL" in error_text(host.read_reply())
    assert host.ok("ping") == "0.1.0"


def test_deep_nesting_does_not_crash(host, agent):
    host.send_raw(b"[" * 200000 + b"\n")
    reply = host.read_reply()
    assert "nesting too deep" in error_text(reply)
    host.send_raw(b'{"execute":"ping","arguments":{"a":' + b"[" * 200000 + b"]" * 200000 + b"}}\n")
    assert "nesting too deep" in error_text(host.read_reply())
    assert agent.alive() and host.ok("ping") == "0.1.0"


def test_crlf_blank_lines_and_whitespace(host):
    host.send_raw(b'\r\n\n   \r\n  {"execute":"ping","tag":"w"}  \r\n')
    assert host.read_reply() == {"return": "0.1.0", "tag": "w"}
    assert host.no_reply()


def test_request_split_byte_by_byte(host):
    raw = b'{"execute": "ping", "tag": "split"}\r\n'
    for i in range(len(raw)):
        host.send_raw(raw[i:i + 1])
        time.sleep(0.002)
    assert host.read_reply() == {"return": "0.1.0", "tag": "split"}


def test_many_requests_in_one_write(host):
    n = 500
    host.send_raw(b"".join(b'{"execute":"ping","tag":"p%d"}\n' % i for i in range(n)))
    tags = [host.read_reply()["tag"] for _ in range(n)]
    assert sorted(tags) == sorted("p%d" % i for i in range(n))


def test_overlong_line_is_drained_and_answered(host):
    chunk = b"A" * (1 << 20)
    host.send_raw(b'{"execute":"ping","tag":"')
    for _ in range(LIMIT // len(chunk) + 1):
        host.send_raw(chunk)
    host.send_raw(b'"}\n{"execute":"ping","tag":"after"}\n')
    reply = host.read_reply()
    assert reply["tag"] == "" and "request too long" in error_text(reply)
    assert host.read_reply() == {"return": "0.1.0", "tag": "after"}


def test_unknown_arguments_are_ignored(host):
    assert host.ok("ping", {"bogus": 1, "other": [1, {"x": 2}]}) == "0.1.0"


def test_wrong_argument_types(host, tmp_path):
    code, msg = host.err("file-open", {"path": 5})
    assert code == EINVAL and "'path' must be a string" in msg
    code, msg = host.err("file-open", {"path": str(tmp_path / "x"), "mode": True})
    assert code == EINVAL and "'mode' must be a string" in msg
    code, msg = host.err("file-read", {"handle_id": "1"})
    assert code == EINVAL and "'handle_id' must be an integer" in msg
    code, msg = host.err("file-read", {"handle_id": 1.5})
    assert code == EINVAL
    code, msg = host.err("file-read", {"handle_id": 99999999999999999999999})
    assert code == EINVAL


def test_missing_required_and_out_of_range(host, tmp_path):
    code, msg = host.err("file-open", {})
    assert code == EINVAL and "missing required argument 'path'" in msg
    code, msg = host.err("file-chmod", {"path": str(tmp_path), "perm": 99999})
    assert code == EINVAL and "outside" in msg
    code, msg = host.err("file-read", {"handle_id": 1, "count": 48 * 1024 * 1024 + 1})
    assert code == EINVAL and "'count'" in msg
    code, msg = host.err("file-stat", {"path": "relative/path"})
    assert code == EINVAL and "absolute path" in msg


def test_replies_for_a_departed_host_are_never_delivered(agent, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(300 * 1024 * 1024)
    first = agent.connect()
    first.send_raw(json.dumps({"execute": "get-file-md5sum", "arguments": {"path": str(big)},
                               "tag": "old"}).encode() + b"\n")
    wait_until(lambda: holds_open(agent.proc.pid, big), "the md5 never started")
    first.close()
    second = agent.connect()
    assert second.ok("ping") == "0.1.0"
    # The md5 is over once the agent closes the file; its reply (for the first host) is
    # made right after, so a ping sent now is answered after it would have been sent.
    wait_until(lambda: not holds_open(agent.proc.pid, big), "the md5 never ended", 120)
    assert second.request("ping", tag="after-md5")["tag"] == "after-md5"
    assert second.no_reply(0.5)
    assert second.request("ping", tag="fresh")["tag"] == "fresh"


def test_second_client_is_served_while_the_first_stays(agent):
    # Several clients at once (tests/protocol/test_clients.py has the rest).
    first = agent.connect()
    assert first.ok("ping") == "0.1.0"
    second = Client(agent.sock_path)
    second.send_raw(b'{"execute":"ping","tag":"second"}\n')
    assert second.read_reply() == {"return": "0.1.0", "tag": "second"}
    assert first.no_reply(0.1)
    second.close()


def test_half_closed_host_gets_all_replies(agent):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(agent.sock_path)
    s.sendall(b'{"execute":"ping","tag":"a"}\n{"execute":"sysinfo","tag":"b"}\n')
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    tags = sorted(json.loads(line)["tag"] for line in data.splitlines())
    assert tags == ["a", "b"]
    s.close()
    assert agent.connect().ok("ping") == "0.1.0"


def test_host_disconnect_mid_reply(agent, tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"x" * (16 * 1024 * 1024))
    c = agent.connect()
    h = c.ok("file-open", {"path": str(path)})
    c.send_raw(json.dumps({"execute": "file-read", "arguments": {"handle_id": h, "count": 16 << 20},
                           "tag": "r"}).encode() + b"\n")
    c.sock.recv(1000)  # take a little of the reply, then vanish
    c.close()
    c2 = agent.connect()
    assert c2.ok("ping") == "0.1.0"
    assert agent.alive()


def test_agent_shutdown(agent):
    c = agent.connect()
    assert c.ok("agent-shutdown") is True
    assert agent.proc.wait(10) == 0


@pytest.mark.parametrize("before", [b"", b'{"execute":"ping","tag":"big"' + b" " * (300 << 10) + b"}\n"],
                         ids=["alone", "behind-a-large-line"])
def test_nothing_is_taken_behind_agent_shutdown(agent, before):
    """Requests in the same write behind agent-shutdown are not taken: an agent on its way out
    answers nothing more (they were answered from the bytes read with it). Also when a line
    of 256 KiB or more came first, parsed in a worker while the ones behind it waited (they
    were run after the shutdown)."""
    c = agent.connect()
    c.send_raw(before + b'{"execute":"agent-shutdown","tag":"x"}\n{"execute":"ping","tag":"after"}\n'
               b'{"execute":"get-commands","tag":"after2"}\n')
    assert agent.proc.wait(10) == 0
    c.sock.settimeout(5)
    got = b""
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            break
        got += chunk
    lines = [json.loads(l) for l in got.splitlines()]
    assert [l.get("tag") for l in lines] == (["big", "x"] if before else ["x"]), lines


def test_freeze_status_on_the_test_machine(host):
    # Never fs-freeze here: that would freeze the machine running the tests. Freezing is
    # tested in the VM (tests/vm); on the host only the harmless side is checked.
    assert host.ok("get-freeze-status") is False
    assert host.ok("fs-unfreeze") is True  # nothing frozen: nothing to thaw
    assert host.ok("get-freeze-status") is False


def test_freeze_options_are_checked():
    import subprocess
    from conftest import AGENT
    out = subprocess.run([AGENT, "--freeze-timeout", "-5"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--freeze-timeout" in out.stderr
    out = subprocess.run([AGENT, "--help"], capture_output=True, text=True, timeout=10)
    for opt in ("--freeze-timeout", "--fsfreeze-hook", "--runtime-dir"):
        assert opt in out.stdout
