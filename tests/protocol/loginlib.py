"""Shared by the login terminal's protocol tests (test_login.py, test_login_flow.py): the
frame format, a raw terminal connection (Term), helpers over /proc and the terms fixture."""
import json
import os
import pathlib
import re
import socket
import struct
import time

import pytest

from conftest import error_text, needs_root

EXT = "__org.phoenixga_guest-login"
DEADLINE = 30.0          # generous under load; every wait ends as soon as its condition holds
FRAME_MAX = 64 * 1024    # PHX_LOGIN_FRAME_MAX
HANGUP_GRACE_S = 5.0     # PHX_LOGIN_HANGUP_GRACE_MS
SESSIONS_MAX = 4         # PHX_LOGIN_SESSIONS_MAX
EAGAIN, EBUSY = 11, 16

pytestmark = needs_root("a login shell of root or of a test user, on a pseudo-terminal")


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame of the stream: type byte, 4-byte big-endian length, payload."""
    return kind + struct.pack(">I", len(payload)) + payload


class Term:
    """One host connection: JSON requests, and once a login was answered, the framed stream."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = bytearray()   # bytes read from the agent and not yet parsed
        self.out = bytearray()   # the terminal's output (payloads of `o` frames)
        self.seen = 0            # what expect() has matched so far
        self.exit = None         # the `x` frame's object
        self.seq = 0
        self.session = None      # the login reply's value

    def close(self):
        self.sock.close()

    # --- bytes -------------------------------------------------------------------------------
    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing within the deadline; output so far ends %r" % bytes(self.out[-300:]))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("nothing within the deadline; output so far ends %r" % bytes(self.out[-300:]))
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError("agent closed the connection")
        self.buf += chunk

    # --- requests ----------------------------------------------------------------------------
    def line(self, timeout=DEADLINE) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._recv(deadline)
        i = self.buf.index(b"\n")
        text = bytes(self.buf[:i])
        del self.buf[:i + 1]
        return json.loads(text)

    def phx_bytes(self, execute, arguments=None, tag=None) -> bytes:
        msg = {"execute": execute, "tag": tag}
        if arguments is not None:
            msg["arguments"] = arguments
        return json.dumps(msg).encode() + b"\n"

    def qga_bytes(self, execute, arguments=None, id=None) -> bytes:
        msg = {"execute": execute, "id": id}
        if arguments is not None:
            msg["arguments"] = arguments
        return json.dumps(msg).encode() + b"\n"

    def request(self, execute, arguments=None) -> dict:
        """A Phoenix request and its reply (checked by tag)."""
        self.seq += 1
        tag = "t%d" % self.seq
        self.sock.sendall(self.phx_bytes(execute, arguments, tag))
        r = self.line()
        assert r.get("tag") == tag, r
        return r

    def qga(self, execute, arguments=None) -> dict:
        self.seq += 1
        self.sock.sendall(self.qga_bytes(execute, arguments, self.seq))
        r = self.line()
        assert r.get("id") == self.seq, r
        return r

    def login(self, qga=False, after=b"", newline=True, **arguments) -> dict:
        """Sends a login (with `after` in the same write) and returns the reply; on success
        the connection is a terminal from here on."""
        self.seq += 1
        if qga:
            # a qemu-ga request ends at its closing brace; its clients send a newline after
            # it, which the stream skips (no frame type is a blank)
            data = self.qga_bytes(EXT, arguments, self.seq)
            if not newline:
                data = data[:-1]
        else:
            data = self.phx_bytes("login", arguments, "t%d" % self.seq)
        self.sock.sendall(data + after)
        r = self.line()
        assert r.get("id" if qga else "tag") == (self.seq if qga else "t%d" % self.seq), r
        if "return" in r:
            self.session = r["return"]
            self.out, self.seen, self.exit = bytearray(), 0, None
        return r

    def login_ok(self, **arguments) -> dict:
        r = self.login(**arguments)
        assert "return" in r, error_text(r) if "tag" in r else r
        check_session(r["return"])
        return r["return"]

    # --- the stream --------------------------------------------------------------------------
    def send(self, kind, payload=b""):
        self.sock.sendall(frame(kind, payload))

    def type(self, text):
        self.send(b"i", text.encode())

    def resize(self, rows, cols):
        self.send(b"w", struct.pack(">HH", rows, cols))

    def frame(self, deadline):
        """Reads one agent frame: an `o` adds to the output, an `x` ends the session."""
        while len(self.buf) < 5:
            self._recv(deadline)
        kind = bytes(self.buf[:1])
        n = struct.unpack(">I", bytes(self.buf[1:5]))[0]
        assert kind in (b"o", b"x"), "unknown frame type %r from the agent" % kind
        assert n <= FRAME_MAX, "a %r frame of %d bytes (more than 64 KiB)" % (kind, n)
        assert self.exit is None, "a %r frame after x (x is the agent's last frame)" % kind
        while len(self.buf) < 5 + n:
            self._recv(deadline)
        payload = bytes(self.buf[5:5 + n])
        del self.buf[:5 + n]
        if kind == b"o":
            self.out += payload
        else:
            self.exit = json.loads(payload)
            assert isinstance(self.exit, dict), self.exit
        return kind

    def expect(self, token: bytes, timeout=DEADLINE) -> int:
        """Reads output until `token` appears after what was matched before; returns where."""
        deadline = time.monotonic() + timeout
        start = self.seen
        while True:
            i = self.out.find(token, start)
            if i >= 0:
                self.seen = i + len(token)
                return i
            start = max(self.seen, len(self.out) - len(token) + 1)
            assert self.exit is None, "the session ended (%r) before %r appeared; output ends %r" % (
                self.exit, token, bytes(self.out[-300:]))
            self.frame(deadline)

    def run(self, command, timeout=DEADLINE) -> str:
        """Types one command line and returns what it printed (LF line ends, stripped)."""
        self.seq += 1
        n = self.seq
        begin, end = b"B%d-%d" % (n, n * 7), b"E%d-%d" % (n, n * 7)
        self.type("echo B%d-$((%d*7)); %s; echo E%d-$((%d*7))\n" % (n, n, command, n, n))
        self.expect(begin, timeout)
        at = self.seen
        e = self.expect(end, timeout)
        return bytes(self.out[at:e]).replace(b"\r\n", b"\n").decode(errors="replace").strip()

    def wait_exit(self, timeout=DEADLINE) -> dict:
        deadline = time.monotonic() + timeout
        while self.exit is None:
            self.frame(deadline)
        return self.exit

    def wait_closed(self, timeout=DEADLINE):
        """Reads (and drops) frames until the agent closes the connection."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._recv(deadline)
                self.buf.clear()
        except EOFError:
            return


def check_session(value):
    assert set(value) == {"session", "pid", "tty"}, value
    assert isinstance(value["session"], int) and isinstance(value["pid"], int) and value["pid"] > 1
    assert re.fullmatch(r"/dev/pts/\d+", value["tty"]), value


def gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def proc_stat(pid):
    """(state, ppid, pgrp, session, tty_nr) of a process."""
    text = pathlib.Path("/proc/%d/stat" % pid).read_text()
    f = text[text.rindex(")") + 2:].split()
    return f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4])


def proc_status(pid):
    out = {}
    for line in pathlib.Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.split()
    return out


def children(pid):
    try:
        text = pathlib.Path("/proc/%d/task/%d/children" % (pid, pid)).read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def comm(pid):
    try:
        return pathlib.Path("/proc/%d/comm" % pid).read_text().strip()
    except OSError:
        return None


@pytest.fixture
def terms(agent):
    """Opens connections to the `agent` fixture; closes them before the agent stops."""
    opened = []

    def open_term(a=None):
        t = Term((a or agent).sock_path)
        opened.append(t)
        return t
    yield open_term
    for t in opened:
        t.close()


def marked(marker):
    """Pids whose command line holds marker."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def gone_or_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def kill_marked(marker):
    """Kills the processes whose command line holds marker (left on purpose by a test)."""
    for pid in marked(marker):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
