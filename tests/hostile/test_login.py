"""Attack 16: hosts that log in and then abuse the terminal stream (doc/protocol.md, "Login
terminal").

Every session the agent allows (PHX_LOGIN_SESSIONS_MAX) is opened; in two the shell floods
its terminal with output (`yes`) that the host never reads, in one the host types 64 MiB into
a shell that reads none of it (`sleep`), and one shell ignores SIGHUP and never reads its
terminal again. The agent reads a terminal only
while less than PHX_LOGIN_OUTPUT_QUEUE of its output waits for the host, and a connection only
while its terminal takes input, so its memory stays within PHX_MEMORY_HWM_MAX; one more login
is refused; another client is served at once; and once the hosts leave, every shell is gone
(the hang-up's SIGHUP, or SIGKILL after PHX_LOGIN_HANGUP_GRACE_MS for one that ignores it).
"""
import json
import os
import struct
import time

import pytest

from conftest import MIB, SERVE_BOUND, limit, report, timed

pytestmark = pytest.mark.timeout(300)


def frame(kind, payload=b""):
    return kind + struct.pack(">I", len(payload)) + payload


def login(host):
    host.send_raw(json.dumps({"execute": "login", "tag": "login"}).encode() + b"\n")
    reply = json.loads(host.read_line())
    assert "return" in reply, reply
    return reply["return"]["pid"]


def alive(pid):
    """Running, not a zombie waiting for the agent to reap it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped before, or while, it was read
        return False


def test_sessions_that_flood_and_never_read(agent):
    n = limit("PHX_LOGIN_SESSIONS_MAX")
    hosts, pids = [], []
    for i in range(n):
        h = agent.connect()
        pids.append(login(h))
        hosts.append(h)
    # the terminals flood; nobody reads (and one shell ignores the hang-up that will come)
    for h in hosts[1:-1]:
        h.send_raw(frame(b"i", b"yes flood-flood-flood-flood\n"))
    # a shell that never reads its terminal again and ignores SIGHUP: only SIGKILL ends it
    hosts[0].send_raw(frame(b"i", b"trap '' HUP; while :; do sleep 1; done\n"))
    # the last host types far more than its shell will ever read
    typist = hosts[-1]
    typist.send_raw(frame(b"i", b"sleep 600\n"))
    chunk = frame(b"i", b"x" * (64 * 1024 - 1) + b"\n")
    typist.sock.setblocking(False)
    # until it has all gone, or the agent has taken nothing for 2 s (it stopped reading)
    sent, last_progress = 0, time.monotonic()
    while sent < 64 * MIB and time.monotonic() - last_progress < 2:
        try:
            sent += typist.sock.send(chunk)
            last_progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    typist.sock.setblocking(True)
    # the agent took far less than was sent: the terminal's buffer and a frame or two
    assert sent < 32 * MIB, "the agent took %d MiB of input a shell never read" % (sent // MIB)

    other = agent.connect()
    refused = other.request("login")
    assert "error" in refused and refused["error"]["code"] == 11, refused  # EAGAIN
    _, elapsed = timed(other.ok, "ping")
    assert elapsed < SERVE_BOUND
    hwm = agent.settle()
    report("attack16-login-flood", sessions=n, input_taken_mib=sent / MIB, settled_hwm_mib=hwm / MIB)
    agent.assert_hwm("attack16-login-flood")

    # the hosts leave: every shell goes, the one that ignores SIGHUP after the grace
    for h in hosts:
        h.close()
    deadline = time.monotonic() + limit("PHX_LOGIN_HANGUP_GRACE_MS") / 1000 + 30
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if alive(p)]
        time.sleep(0.1)
    # and the slots are free again
    h = agent.connect()
    pid = login(h)
    h.send_raw(frame(b"i", b"exit 0\n"))
    h.close()
    deadline = time.monotonic() + 30
    while alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert os.path.exists("/proc/%d" % agent.pid)
