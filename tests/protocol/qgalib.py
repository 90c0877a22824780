"""Shared by the qemu-ga dialect tests: Debian's qemu-ga 7.2 as an oracle on a unix socket (as
QEMU's own test suite runs it), and helpers that send the same bytes to both agents and compare
what comes back, and a session in qemu-ga's dialect for the file tests. The `qga` fixture lives
in conftest.py."""
import base64
import json
import shutil
import socket
import subprocess
import time

from conftest import TIMEOUT, wait_listening

QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
# Closes every exchange: a reply to it says everything sent before was read and answered.
MARK = 424242
MARK_REQ = b'{"execute":"guest-sync","arguments":{"id":%d}}' % MARK
HELLO = b"Hello World!\n\0"  # QEMU's own file test data: 14 bytes


class QemuGa:
    """Debian's qemu-ga on a unix socket, with a private state directory; `wrap` is put before
    its command line (["ip", "netns", "exec", NS] runs it in a network namespace)."""

    def __init__(self, tmp_path, args=(), wrap=()):
        self.dir = tmp_path / "qemu-ga"
        (self.dir / "state").mkdir(parents=True)
        self.sock_path = str(self.dir / "qga.sock")
        self.log_path = self.dir / "log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [*wrap, QEMU_GA, "-m", "unix-listen", "-p", self.sock_path, "-t", str(self.dir / "state"),
             "-f", str(self.dir / "pid"), *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.sock_path, self.proc, self.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class LineReader:
    """The reply lines on a connected socket, one at a time; bytes after a line wait in `buf`
    for the next call."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read_line(self, deadline=None, got=None):
        """The next line (bytes, LF removed). The test fails if the peer closes first or, given a
        deadline (time.monotonic()), if no line is complete by then; `got` (the lines read so
        far) goes into the failure's text."""
        while b"\n" not in self.buf:
            # (a message is formatted only when its assertion fails)
            assert deadline is None or time.monotonic() < deadline, \
                "no complete reply line in time" + ("" if got is None else "; got %r" % (got,))
            d = self.sock.recv(1 << 20)
            assert d, "connection closed" + ("" if got is None else "; got %r" % (got,))
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def exchange(path, chunks, mark=True):
    """One connection: sends each chunk as its own write, then (if mark) the closing
    guest-sync, and returns every reply line (bytes, LF removed) up to and including the
    mark's. A reply line may start with 0xFF (guest-sync-delimited)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    try:
        for c in chunks:
            s.sendall(c)
        if not mark:
            return []
        s.sendall(MARK_REQ)
        reader = LineReader(s)
        lines = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = reader.read_line(deadline, lines)
            lines.append(line)
            if line.lstrip(b"\xff") and json.loads(line.lstrip(b"\xff")).get("return") == MARK:
                assert reader.buf == b"", reader.buf
                return lines
    finally:
        s.close()


def replies(path, chunks):
    """The replies to chunks, parsed, without the mark's."""
    lines = exchange(path, chunks)
    return [json.loads(line) for line in lines[:-1]]


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(x) for x in v[:1]]
    return type(v).__name__


def both(agent, qga, chunks):
    """The same chunks to both agents: (phoenix-ga's replies, qemu-ga's)."""
    return replies(agent.sock_path, chunks), replies(qga.sock_path, chunks)


def b64(data):
    return base64.b64encode(data).decode()


class Session:
    """One connection to one agent, speaking qemu-ga's dialect; `handle` arguments given as
    a name are replaced by the handle that name's guest-file-open returned."""

    def __init__(self, sock_path, root):
        self.root = root
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(sock_path)
        self.lines = LineReader(self.sock)
        self.handles = {}

    def close(self):
        self.sock.close()

    def send(self, execute, arguments=None):
        req = {"execute": execute}
        if arguments is not None:
            args = dict(arguments)
            if isinstance(args.get("handle"), str):
                args["handle"] = self.handles[args["handle"]]
            if isinstance(args.get("path"), str) and not args["path"].startswith("/"):
                args["path"] = str(self.root / args["path"])
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode())

    def reply(self):
        return json.loads(self.lines.read_line())

    def call(self, execute, arguments=None, name=None):
        """The reply, with a handle a successful open returned replaced by `name`."""
        self.send(execute, arguments)
        r = self.reply()
        if name is not None and "return" in r:
            self.handles[name] = r["return"]
            r = {"return": name}
        return r
