"""phoenix-ga-client login through a real guest's virtio-serial port (the host side of the
QEMU chardev), the transport it is for: the client on a pseudo-terminal of its own, the
guest's busybox shell on the other end. After each session the port answers requests again.
(tests/protocol/test_client_login.py covers the client in depth on a unix socket.)"""
import os
import re
import signal
import subprocess
import termios

import clientterm
from clientterm import set_size
from conftest import AGENT
from test_vm_login import login_guest  # noqa: F401  (fixture: a terminal and an account)

CLIENT = os.environ.get("PHX_CLIENT", os.path.join(os.path.dirname(AGENT), "phoenix-ga-client"))
TIMEOUT = 60  # TCG


class Terminal(clientterm.Terminal):
    def __init__(self, sock, **kw):
        super().__init__(CLIENT, sock, timeout=TIMEOUT, **kw)


def ping(guest):
    out = subprocess.run([CLIENT, "-s", guest.ga_path, "ping"], capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out
    return out.stdout


def test_client_login_over_the_port(login_guest):
    login_guest.wait_for_agent().close()
    t = Terminal(login_guest.ga_path, rows=29, cols=91)
    try:
        t.type(b"echo vm-$((6*7)) $(id -u); stty size\r")
        t.expect(rb"vm-42 0\r\n29 91\r\n")
        set_size(t.master, 44, 133)
        t.type(b"stty size\r")
        t.expect(rb"44 133\r\n")
        t.type(b"exit 6\r")
        assert t.wait() == 6
        assert termios.tcgetattr(t.slave) == t.before
    finally:
        t.close()
    assert ping(login_guest)
    # ~. over the port: the agent hangs up, the client leaves with 255, the port is free again
    t = Terminal(login_guest.ga_path)
    try:
        t.type(b"echo up-$((3*3))\r")
        t.expect(rb"up-9\r\n")
        t.type(b"sleep 300\r~.")
        assert t.wait() == 255
        assert termios.tcgetattr(t.slave) == t.before
    finally:
        t.close()
    assert ping(login_guest)


def test_client_killed_on_the_port(login_guest):
    """A client that dies leaves the port to the next host, and its terminal as it was."""
    login_guest.wait_for_agent().close()
    t = Terminal(login_guest.ga_path)
    try:
        t.type(b"echo up-$((4*4))\r")
        t.expect(rb"up-16\r\n")
        t.proc.send_signal(signal.SIGTERM)
        assert t.wait() == -signal.SIGTERM
        assert termios.tcgetattr(t.slave) == t.before
    finally:
        t.close()
    assert ping(login_guest)


def test_piped_client_login_over_the_port(login_guest):
    login_guest.wait_for_agent().close()
    out = subprocess.run([CLIENT, "-s", login_guest.ga_path, "login"], input=b'echo pi""ped\nexit 4\n',
                         capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 4, out
    assert re.search(rb"[\r\n]piped\r\n", out.stdout), out.stdout
    assert ping(login_guest)
