"""phoenix-ga-client on a pseudo-terminal of its own (its session's controlling terminal, as
under a terminal emulator), for the login tests on a unix socket (tests/protocol) and through
a guest's port (tests/vm). The test keeps the slave open too: the termios can be read after
the client is gone (on Linux the master reports the slave's), and the master never sees EIO
while the test still reads. Every wait has a deadline; nothing sleeps for correctness."""
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

import pytest


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_terminal():
    # after setsid (start_new_session): the pty on stdin becomes the session's terminal,
    # and the client's process group its foreground group, which gets SIGWINCH
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`client -s sock login ARGS...` on a pty; timeout: the default for every wait."""

    def __init__(self, client, sock, *args, env=None, rows=24, cols=80, timeout=30):
        self.timeout = timeout
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.before = termios.tcgetattr(self.slave)
        self.seen = b""
        self.mark = 0
        self.proc = subprocess.Popen(
            [client, "-s", sock, "login", *args], stdin=self.slave, stdout=self.slave,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_controlling_terminal,
            env=env if env is not None else dict(os.environ, TERM="xterm"))

    def pump(self, wait):
        if select.select([self.master], [], [], wait)[0]:
            self.seen += os.read(self.master, 1 << 16)

    def expect(self, pattern, timeout=None):
        """Waits for `pattern` (a regex on bytes) in what was shown since the last match."""
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            m = re.compile(pattern).search(self.seen, self.mark)
            if m:
                self.mark = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self.pending()):
                pytest.fail("no %r within %.0fs (client exit %s): %r"
                            % (pattern, timeout, self.proc.poll(), self.seen[-2000:]))
            self.pump(min(left, 0.2))

    def pending(self):
        return bool(select.select([self.master], [], [], 0)[0])

    def type(self, data):
        os.write(self.master, data)

    def raw(self):
        return not termios.tcgetattr(self.slave)[3] & (termios.ICANON | termios.ECHO)

    def wait_raw(self, timeout=None):
        """The client turns the terminal raw once the agent has answered the login request."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.raw():
            assert self.proc.poll() is None, "the client ended: %r" % (self.stderr(),)
            assert time.monotonic() < deadline, "the terminal never went raw"
            self.pump(0.01)

    def wait(self, timeout=None):
        """The client's exit status; what it still shows is read meanwhile (a full pty would
        block it)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "the client did not end: %r" % self.seen[-2000:]
            self.pump(0.05)
        while self.pending():
            self.pump(0)
        return self.proc.returncode

    def stderr(self):
        return self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""

    def restored(self):
        return termios.tcgetattr(self.slave) == self.before

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        os.close(self.master)
        os.close(self.slave)
