"""The login terminal through the guest's real virtio-serial port, the case it is for: a guest
whose network is down (doc/protocol.md, "Login terminal"). The port carries the terminal
stream and, once the session has ended, requests again; a host that goes away mid-session
hangs the terminal up."""
import json
import struct
import time

import pytest


def frame(kind, payload=b""):
    return kind + struct.pack(">I", len(payload)) + payload


def next_frame(h, deadline):
    """(type, payload) of the next frame on the port, past the monotonic deadline an error."""
    while True:
        if len(h.buf) >= 5:
            n = struct.unpack(">I", h.buf[1:5])[0]
            if len(h.buf) >= 5 + n:
                kind, payload, h.buf = h.buf[:1], h.buf[5:5 + n], h.buf[5 + n:]
                return kind, payload
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no frame")
        h.sock.settimeout(left)
        chunk = h.sock.recv(65536)
        if not chunk:
            raise EOFError("chardev closed")
        h.buf += chunk


def output_until(h, marker, timeout=60):
    """The terminal's output up to and including marker (the shell's, not the echo of what was
    typed: the markers are computed by the shell)."""
    deadline = time.monotonic() + timeout
    out = b""
    while marker not in out:
        kind, payload = next_frame(h, deadline)
        assert kind == b"o", (kind, payload, out)
        out += payload
    return out


def exit_status(h, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        kind, payload = next_frame(h, deadline)
        if kind == b"x":
            return json.loads(payload)
        assert kind == b"o", (kind, payload)


@pytest.fixture(scope="module")
def login_guest(guest):
    """A terminal and an account to log in to: the test guest's initramfs has neither."""
    rc, out = guest.sh("mkdir -p /dev/pts /root && (grep -q ' /dev/pts ' /proc/mounts || "
                       "mount -t devpts -o mode=620,ptmxmode=666 devpts /dev/pts) && "
                       "(grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:x:0:0:root:/root:/bin/sh' >> /etc/passwd)")
    assert rc == 0, out
    return guest


def login(h, dialect="phoenix", **arguments):
    if dialect == "phoenix":
        h.sock.sendall(json.dumps({"execute": "login", "arguments": arguments, "tag": "login"}).encode() + b"\n")
    else:
        # qemu-ga's framing: no newline, the request ends at its brace
        h.sock.sendall(json.dumps({"execute": "__org.phoenixga_guest-login", "arguments": arguments,
                                   "id": 42}).encode())
    reply = h.read_reply(time.monotonic() + 30, "login: no reply")
    assert "return" in reply, reply
    return reply["return"]


@pytest.mark.parametrize("dialect", ["phoenix", "qemu-ga"])
def test_login_on_the_port_then_requests_again(login_guest, dialect):
    h = login_guest.wait_for_agent()
    try:
        ret = login(h, dialect, rows=33, cols=101)
        assert ret["tty"].startswith("/dev/pts/") and ret["pid"] > 1
        h.sock.sendall(frame(b"i", b"echo vm-$((6*7)) $(id -u) $HOME; stty size; echo size-done-$((1+1))\n"))
        out = output_until(h, b"size-done-2")
        assert b"vm-42 0 /root" in out, out
        assert b"33 101" in out, out
        # a window change reaches the terminal
        h.sock.sendall(frame(b"w", struct.pack(">HH", 40, 120)) + frame(b"i", b"stty size; echo resized-$((2+1))\n"))
        out = output_until(h, b"resized-3")
        assert b"40 120" in out, out
        h.sock.sendall(frame(b"i", b"exit 5\n"))
        assert exit_status(h) == {"exitcode": 5}
        # the host read the end: the same port answers requests again, in both dialects
        h.sock.sendall(frame(b"e"))
        assert h.ok("ping")
        assert h.qga_ok("guest-ping") == {}
    finally:
        h.close()


def test_host_leaving_hangs_the_terminal_up(login_guest):
    h = login_guest.wait_for_agent()
    ret = login(h)
    h.sock.sendall(frame(b"i", b"echo up-$((3*3))\n"))
    output_until(h, b"up-9")
    rc, _ = login_guest.sh("kill -0 %d" % ret["pid"])
    assert rc == 0
    h.close()
    # the next host gets a request connection (the stream ended with the last host)...
    h = login_guest.wait_for_agent()
    try:
        assert h.ok("ping")
        # ...and the shell got its SIGHUP
        deadline = time.monotonic() + 30
        while login_guest.sh("kill -0 %d" % ret["pid"])[0] == 0:
            assert time.monotonic() < deadline, "the shell outlived the hang-up"
            time.sleep(0.2)
        rc, out = login_guest.sh("grep 'login session' /run/agent.log | tail -n 2")
        assert "hung up" in out, out
    finally:
        h.close()


def test_a_host_that_ends_and_leaves_at_once(login_guest):
    """The stream's end sent just before the host closes the port is read as that host's,
    also when the guest sees the close and the last bytes together (the agent is stopped
    while they arrive): the next host's first request is its own, not glued to the 5 bytes
    of the last one's `e`."""
    for _ in range(2):
        h = login_guest.wait_for_agent()
        login(h)
        h.sock.sendall(frame(b"i", b"exit 0\n"))
        assert exit_status(h) == {"exitcode": 0}
        rc, out = login_guest.sh("kill -STOP $(pidof phoenix-ga)")
        assert rc == 0, out
        try:
            h.sock.sendall(frame(b"e"))
            h.close()
            # for the close to reach the guest (too short a wait would only let it pass)
            time.sleep(1)
        finally:
            login_guest.sh("kill -CONT $(pidof phoenix-ga)")
        h = login_guest.host()
        try:
            assert h.ok("ping")
        finally:
            h.close()


def test_a_new_host_while_a_terminal_held_the_port(login_guest):
    """A host that held a terminal stream leaves and another attaches before the agent looks
    (it is stopped meanwhile): the port never says HUP to it, so the new host's first request
    reaches the terminal's connection. What cannot be a frame there is taken for the new
    host's requests: it is answered, and the terminal is hung up."""
    h = login_guest.wait_for_agent()
    shell = login(h)["pid"]
    h.sock.sendall(frame(b"i", b"echo held-$((5*5))\n"))
    output_until(h, b"held-25")
    rc, out = login_guest.sh("kill -STOP $(pidof phoenix-ga)")
    assert rc == 0, out
    try:
        h.close()
        time.sleep(1)  # for QEMU to see that host leave (too short would only let it pass)
        h = login_guest.host()
        h.sock.sendall(json.dumps({"execute": "ping", "tag": "new-host"}).encode() + b"\n")
        time.sleep(1)  # for the request to reach the guest first
    finally:
        login_guest.sh("kill -CONT $(pidof phoenix-ga)")
    try:
        reply = h.read_reply(time.monotonic() + 30, "the new host's ping: no reply")
        assert reply.get("tag") == "new-host" and "return" in reply, reply
        deadline = time.monotonic() + 30
        while login_guest.sh("kill -0 %d" % shell)[0] == 0:
            assert time.monotonic() < deadline, "the shell outlived the hang-up"
            time.sleep(0.2)
    finally:
        h.close()
