"""qemu-ga's guest-suspend-ram, -disk and -hybrid: `success-response: false` (nothing is sent
on success, an error is answered), and what the guest offers read from /sys/power. The agent
reads a directory of the test's own files (PHX_TEST_POWER_DIR), so these tests never suspend
the machine they run on; the writes land in those files, where the test reads them."""
import json

import pytest

from conftest import Agent
from qgalib import replies

QGA_NOT_SUPPORTED = "the requested suspend mode is not supported by the guest"


@pytest.fixture
def power(tmp_path, monkeypatch):
    d = tmp_path / "power"
    d.mkdir()
    (tmp_path / "agent").mkdir()
    monkeypatch.setenv("PHX_TEST_POWER_DIR", str(d))

    def start(state, disk=None, resume=None):
        (d / "state").write_text(state + "\n")
        if disk is not None:
            (d / "disk").write_text(disk + "\n")
        if resume is not None:
            (d / "resume").write_text(resume + "\n")
        a = Agent(tmp_path / "agent")
        start.agents.append(a)
        return a

    start.agents = []
    start.dir = d
    yield start
    for a in start.agents:
        assert a.stop() in (0, -15)


def ask(agent, *reqs):
    """Sends the requests on one connection, each after the previous one's reply (as
    libvirt does); returns the replies."""
    c = agent.connect()
    out = []
    for r in reqs:
        c.send_raw(r)
        out.append(c.read_reply())
    return out


def succeeds_silently(agent, name):
    """`name` is followed, on the same connection, by a refused suspend of the same family:
    it runs in the same lane, so only after `name` completed — the first reply is the
    refusal's, so `name` sent nothing at all."""
    c = agent.connect()
    c.send_raw(req(name, 1) + req("guest-suspend-ram", 2, {"x": 1}) + req("guest-suspend-hybrid", 3))
    first = c.read_reply()
    assert first["id"] == 2, first  # refused before any lane: it overtakes
    second = c.read_reply()
    assert second["id"] == 3 and "error" in second, second
    assert c.no_reply(0.2)


def req(name, rid, args=None):
    r = {"execute": name, "id": rid}
    if args is not None:
        r["arguments"] = args
    return json.dumps(r).encode()


def test_suspend_ram_succeeds_without_a_reply(power):
    """On success nothing at all is sent: the next reply on the connection is the sync's."""
    agent = power("freeze mem disk")
    (power.dir / "disk").write_text("[platform]\n")  # no hybrid: the probe after it is refused
    succeeds_silently(agent, "guest-suspend-ram")
    assert (power.dir / "state").read_text() == "mem"


def test_suspend_ram_refused_when_the_kernel_offers_no_mem(power):
    agent = power("freeze disk")
    got = ask(agent, req("guest-suspend-ram", "r"))
    assert got[0]["id"] == "r" and got[0]["error"]["class"] == "GenericError"
    assert got[0]["error"]["desc"].startswith(QGA_NOT_SUPPORTED + ": "), got
    assert (power.dir / "state").read_text() == "freeze disk\n"


def test_suspend_ram_refused_without_sys_power_state(power):
    agent = power("mem")
    (power.dir / "state").unlink()
    got = ask(agent, req("guest-suspend-ram", 3))
    assert got[0]["error"]["desc"].startswith(QGA_NOT_SUPPORTED), got
    assert not (power.dir / "state").exists()


def test_suspend_disk_needs_a_resume_device(power):
    agent = power("mem disk", resume="0:0")
    got = ask(agent, req("guest-suspend-disk", 4))
    assert got[0]["error"]["class"] == "GenericError"
    assert "no resume device" in got[0]["error"]["desc"], got
    assert (power.dir / "state").read_text() == "mem disk\n"


def test_suspend_disk_refused_without_hibernation(power):
    agent = power("freeze mem", resume="254:2")
    got = ask(agent, req("guest-suspend-disk", 4))
    assert got[0]["error"]["desc"].startswith(QGA_NOT_SUPPORTED + ": the kernel offers no 'disk'"), got


def test_suspend_disk_writes_disk(power):
    agent = power("freeze mem disk", disk="[platform] shutdown reboot suspend", resume="254:2")
    (power.dir / "disk").write_text("[platform] shutdown reboot\n")
    succeeds_silently(agent, "guest-suspend-disk")
    assert (power.dir / "state").read_text() == "disk"
    assert (power.dir / "disk").read_text() == "[platform] shutdown reboot\n"


def test_suspend_hybrid_needs_suspend_disk_mode(power):
    agent = power("mem disk", disk="[platform] shutdown reboot", resume="254:2")
    got = ask(agent, req("guest-suspend-hybrid", 7))
    assert got[0]["error"]["desc"] == QGA_NOT_SUPPORTED + ": the kernel offers no 'suspend' in /sys/power/disk"


def test_suspend_hybrid_sets_suspend_then_puts_the_disk_mode_back(power):
    agent = power("mem disk", disk="shutdown [platform] reboot suspend", resume="254:2")
    c = agent.connect()
    # the ram request runs in the same lane after the hybrid one, and is refused (the state
    # file then holds "disk"): its reply is the first, so the hybrid one sent none
    c.send_raw(req("guest-suspend-hybrid", 8) + req("guest-suspend-ram", 9))
    first = c.read_reply()
    assert first["id"] == 9 and "error" in first, first
    assert c.no_reply(0.2)
    assert (power.dir / "state").read_text() == "disk"
    # the kernel would show "[platform]" again; the file holds what was written back
    assert (power.dir / "disk").read_text() == "platform"


def test_suspend_write_failure_is_answered(power):
    """A failed suspend is an error reply (success-response: false covers success only)."""
    agent = power("mem")
    (power.dir / "state").unlink()
    (power.dir / "state").mkdir()  # readable as nothing, not writable as a file
    got = ask(agent, req("guest-suspend-ram", 10))
    assert got[0]["id"] == 10 and got[0]["error"]["class"] == "GenericError"


def test_suspend_takes_no_arguments(power):
    agent = power("mem")
    got = ask(agent, req("guest-suspend-ram", 11, {"x": 1}))
    assert got == [{"id": 11, "error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}]
    assert (power.dir / "state").read_text() == "mem\n"


def test_agents_under_test_never_see_the_machines_sys_power(agent):
    """conftest gives every agent a /sys/power of its own that does not exist: whatever a
    test sends, the machine running the tests is never suspended."""
    got = ask(agent, req("guest-suspend-ram", 1), req("guest-suspend-disk", 2), req("guest-suspend-hybrid", 3))
    for r in got:
        assert r["error"]["desc"].startswith(QGA_NOT_SUPPORTED), r


def test_guest_info_marks_suspend_without_success_response(power, qga):
    agent = power("mem")
    ours = replies(agent.sock_path, [req("guest-info", 1)])[0]["return"]["supported_commands"]
    theirs = replies(qga.sock_path, [req("guest-info", 1)])[0]["return"]["supported_commands"]
    ours = {c["name"]: c["success-response"] for c in ours}
    theirs = {c["name"]: c["success-response"] for c in theirs}
    for name in ("guest-suspend-ram", "guest-suspend-disk", "guest-suspend-hybrid"):
        assert ours[name] is False and theirs[name] is False
    assert ours["guest-ping"] is True
    # every command we list says what qemu-ga's says (commands newer than 7.2: true)
    assert {n: theirs.get(n, True) for n in ours} == ours
