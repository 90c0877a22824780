"""A port restricted to one dialect (`dialect = both | phoenix | qemu-ga`, --dialect): a request
in the other dialect is refused in its own dialect, so its host can read why, and never run."""
import json

import pytest

from test_config import run_agent, write_conf


@pytest.fixture
def start(agent_factory):
    return agent_factory


def test_both_is_the_default(start):
    c = start().connect()
    c.send_raw(b'{"execute":"guest-ping","id":1}\n')
    assert c.read_reply() == {"return": {}, "id": 1}
    assert c.ok("ping") == "0.1.0"
    c.send_raw(b'{"execute":"guest-sync","arguments":{"id":4}}')
    assert c.read_reply() == {"return": 4}


@pytest.mark.parametrize("args", [("--dialect", "phoenix"), ("--dialect=phoenix",)])
def test_phoenix_only_refuses_qemu_ga_requests_in_qemu_ga_words(start, args):
    a = start(*args)
    c = a.connect()
    for name in ("guest-sync", "guest-ping", "guest-info", "guest-sync-delimited"):
        c.send_raw(json.dumps({"execute": name, "arguments": {"id": 1}, "id": name}).encode())
        assert c.read_reply() == {"id": name, "error": {
            "class": "CommandNotFound",
            "desc": "Command %s has been disabled: this port serves only the Phoenix dialect" % name}}
    # an unknown qemu-ga name is still unknown
    c.send_raw(b'{"execute":"guest-nope","id":2}')
    assert c.read_reply()["error"] == {"class": "CommandNotFound",
                                       "desc": "The command guest-nope has not been found"}
    # the Phoenix dialect is untouched
    assert c.ok("ping") == "0.1.0"
    assert "get-commands" in c.ok("get-commands")


def test_qemu_ga_only_refuses_phoenix_requests_in_phoenix_words(start, tmp_path):
    a = start("--dialect", "qemu-ga")
    c = a.connect()
    target = tmp_path / "never-written"
    for name, args in (("ping", None), ("get-commands", None),
                       ("file-write", {"path": str(target), "bufb64": "eA=="})):
        assert c.err(name, args) == (-1, "Command %s is disabled: this port serves only the qemu-ga dialect" % name)
    assert not target.exists()
    # qemu-ga's dialect works, and lists its commands as usual
    c.send_raw(b'{"execute":"guest-info","id":"i"}\n')
    info = c.read_reply()
    assert info["id"] == "i" and {"guest-ping", "guest-sync"} <= {
        x["name"] for x in info["return"]["supported_commands"] if x["enabled"]}
    c.send_raw(b'{"execute":"guest-ping","id":7}')
    assert c.read_reply() == {"return": {}, "id": 7}


def test_dialect_from_the_file_and_the_command_line_over_it(tmp_path, start):
    conf = write_conf(tmp_path, "[general]\ndialect = qemu-ga\n")
    c = start("--config", str(conf)).connect()
    assert c.err("ping")[1].endswith("serves only the qemu-ga dialect")
    c = start("--config", str(conf), "--dialect", "both").connect()
    assert c.ok("ping") == "0.1.0"


def test_bad_dialect_is_refused_at_start(tmp_path):
    out = run_agent("--no-config", "--dialect", "qemu", "-m", "unix-listen", "-p", str(tmp_path / "s"))
    assert out.returncode == 2
    assert "--dialect: unknown dialect 'qemu' (use both, phoenix or qemu-ga)" in out.stderr
    conf = write_conf(tmp_path, "[general]\n\ndialect = QEMU-GA\n")
    out = run_agent("--config", str(conf), "-m", "unix-listen", "-p", str(tmp_path / "s"))
    assert out.returncode == 1
    assert out.stderr.startswith("%s:3: dialect: unknown dialect 'QEMU-GA'" % conf), out.stderr
    assert not (tmp_path / "s").exists()
