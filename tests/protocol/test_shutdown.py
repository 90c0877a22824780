"""guest-shutdown / system-shutdown: the mode goes to the guest's init system; in qemu-ga's
dialect nothing is sent on success (success-response: false). The agent here writes the mode to
a file of the test's own (PHX_TEST_POWER_DIR) instead of acting: a test never stops the
machine it runs on. The real thing is tests/vm/test_vm_shutdown.py."""
import json

import pytest

from conftest import Agent
from qgalib import replies


@pytest.fixture
def power_dir(tmp_path, monkeypatch):
    d = tmp_path / "power"
    d.mkdir()
    monkeypatch.setenv("PHX_TEST_POWER_DIR", str(d))
    return d


def req(name, rid=None, arguments=None):
    m = {"execute": name}
    if rid is not None:
        m["id"] = rid
    if arguments is not None:
        m["arguments"] = arguments
    return json.dumps(m).encode()


@pytest.mark.parametrize("mode", [None, "powerdown", "halt", "reboot"])
def test_guest_shutdown_sends_nothing_on_success(power_dir, tmp_path, mode):
    (tmp_path / "a").mkdir()
    a = Agent(tmp_path / "a")
    try:
        args = {"mode": mode} if mode else None
        # only the ping's reply comes back: the shutdown was done and answered nothing
        got = replies(a.sock_path, [req("guest-shutdown", "s", args), req("guest-ping", "p")])
        assert got == [{"return": {}, "id": "p"}]
        assert (power_dir / "shutdown").read_text() == (mode or "powerdown")
    finally:
        assert a.stop() in (0, -15)


def test_phoenix_system_shutdown_answers(power_dir, tmp_path):
    (tmp_path / "a").mkdir()
    a = Agent(tmp_path / "a")
    try:
        assert a.connect().ok("system-shutdown", {"mode": "reboot"}) is True
        assert (power_dir / "shutdown").read_text() == "reboot"
    finally:
        assert a.stop() in (0, -15)


@pytest.mark.parametrize("arguments", [{"mode": "bogus"}, {"mode": 3}, {"force": True}])
def test_bad_mode_as_qemu_ga(agent, qga, arguments):
    """Refused before anything runs, in qemu-ga's words (safe to send to the real qemu-ga)."""
    ours = replies(agent.sock_path, [req("guest-shutdown", 1, arguments)])
    theirs = replies(qga.sock_path, [req("guest-shutdown", 1, arguments)])
    assert ours == theirs and "error" in ours[0]


def test_when_it_cannot_the_host_hears_why(agent):
    """Every test agent's PHX_TEST_POWER_DIR does not exist: the request fails, and the error
    is answered (qemu-ga answers errors of no-reply commands too)."""
    got = replies(agent.sock_path, [req("guest-shutdown", 1)])
    assert got[0]["error"]["class"] == "GenericError"
