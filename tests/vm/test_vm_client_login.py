"""phoenix-ga-client login through a real guest's virtio-serial port (the host side of the
QEMU chardev), the transport it is for: the client on a pseudo-terminal of its own, the
guest's busybox shell on the other end. After each session the port answers requests again.
(tests/protocol/test_client_login.py covers the client in depth on a unix socket.)"""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

from conftest import AGENT
from test_vm_login import login_guest  # noqa: F401  (fixture: a terminal and an account)

CLIENT = os.environ.get("PHX_CLIENT", os.path.join(os.path.dirname(AGENT), "phoenix-ga-client"))
TIMEOUT = 60  # TCG


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_terminal():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, sock, rows=24, cols=80):
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.before = termios.tcgetattr(self.slave)
        self.seen = b""
        self.mark = 0
        self.proc = subprocess.Popen([CLIENT, "-s", sock, "login"], stdin=self.slave, stdout=self.slave,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_controlling_terminal, env=dict(os.environ, TERM="xterm"))

    def pump(self, wait):
        if select.select([self.master], [], [], wait)[0]:
            self.seen += os.read(self.master, 1 << 16)

    def expect(self, pattern):
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = re.compile(pattern).search(self.seen, self.mark)
            if m:
                self.mark = m.end()
                return m
            assert time.monotonic() < deadline and self.proc.poll() is None, \
                "no %r (client exit %s): %r" % (pattern, self.proc.poll(), self.seen[-2000:])
            self.pump(0.2)

    def type(self, data):
        os.write(self.master, data)

    def wait(self):
        deadline = time.monotonic() + TIMEOUT
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "the client did not end: %r" % self.seen[-2000:]
            self.pump(0.05)
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        os.close(self.master)
        os.close(self.slave)


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
