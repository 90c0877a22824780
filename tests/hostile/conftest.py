"""The hostile-host suite: black-box attacks on the real phoenix-ga, with memory and time bounds.

What it is
    Each test plays a host that means harm (or is merely broken): huge or slow-to-parse lines,
    pipelined requests it never reads the answers of, jobs that never end, handles it abandons,
    clients that leave half-way. The agent under test is the real binary (``PHX_AGENT``, default
    ``build/src/phoenix-ga``) in ``-m unix-listen`` mode on a socket in the test's temp dir, with
    ``--no-config`` and a private runtime dir; it is ready when a connect succeeds.

What it checks
    * Memory: the agent's peak (``VmHWM`` of /proc/PID/status) must stay within
      ``PHX_MEMORY_HWM_MAX``, parsed from ``src/phx-limits.h`` -- the agent's own promise. Every
      test checks it where the attack peaks, and the fixture checks it once more at the end.
    * Time: whatever the attack, the requests it must not stop (a ping, a file-stat, the next
      client) are answered within ``SERVE_BOUND`` seconds; every test has a pytest-timeout.
    * Life: the agent must not crash (a signal fails the test) and leaves no process behind (it
      runs in its own session, which is killed and checked empty at the end).

Each test file is one attack family; its header says what the plain build did before the fix
("before" figures, measured on a 2-core machine). Figures are printed as ``HOSTILE name: ...``
lines (run with ``-s`` to see them).

Run:  PHX_AGENT=$PWD/build/src/phoenix-ga /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \\
          --timeout=300 tests/hostile

Under AddressSanitizer the memory figures mean nothing (shadow memory, quarantine); when the
binary is an ASan build, peaks are still printed but not compared with the bound.
"""
import base64
import json
import os
import pathlib
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
AGENT = os.environ.get("PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga"))
LIMITS_H = ROOT / "src" / "phx-limits.h"

# How long a request that an attack must not hold up may take to be answered.
SERVE_BOUND = 5.0
# How long an ordinary exchange may take when nothing is in the way.
TIMEOUT = 30.0
MIB = 1024 * 1024


def limit(name):
    """The value of a #define in src/phx-limits.h (integer arithmetic with casts)."""
    text = LIMITS_H.read_text()
    m = re.search(r"^#define\s+%s\s+(.+)$" % re.escape(name), text, re.M)
    assert m, "%s not in %s" % (name, LIMITS_H)
    expr = re.sub(r"\((?:gsize|gint64|guint64|gint|guint)\)", "", m.group(1))
    assert re.fullmatch(r"[\d\s()*+-]+", expr), expr
    return int(eval(expr))  # digits and operators only, checked above


HWM_MAX = limit("PHX_MEMORY_HWM_MAX")


def _is_asan(path):
    try:
        out = subprocess.run(["nm", "-D", path], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "__asan_init" in out


ASAN = _is_asan(AGENT)


def report(name, **figures):
    """One line per measurement, so before/after figures can be collected from the output."""
    parts = []
    for k, v in figures.items():
        parts.append("%s=%.1f" % (k, v) if isinstance(v, float) else "%s=%s" % (k, v))
    print("\nHOSTILE %s: %s" % (name, " ".join(parts)), flush=True)


class Client:
    """One host connection. Replies are matched by tag; untagged ones are read in order."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""
        self.seq = 0
        self.sender = None
        self.send_error = None
        self.others = []  # replies read while waiting for another tag

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_background(self, data):
        """Sends in a thread, so the test can measure (or read) while the agent pushes back."""
        def run():
            try:
                self.sock.sendall(data)
            except OSError as e:
                self.send_error = e
        self.sender = threading.Thread(target=run, daemon=True)
        self.sender.start()

    def send_done(self, timeout=TIMEOUT):
        if self.sender is not None:
            self.sender.join(timeout)
            assert not self.sender.is_alive(), "sending did not finish within %.0fs" % timeout
            self.sender = None

    def read_line(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply within %.1fs" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(4 * MIB)
            if not chunk:
                raise EOFError("agent closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def drain_lines(self, count, timeout=TIMEOUT):
        """Reads `count` reply lines without parsing them; returns the last one."""
        deadline = time.monotonic() + timeout
        got = self.buf.count(b"\n")
        while got < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%d of %d replies within %.1fs" % (got, count, timeout))
            self.sock.settimeout(left)
            chunk = self.sock.recv(4 * MIB)
            if not chunk:
                raise EOFError("agent closed the connection after %d of %d replies" % (got, count))
            got += chunk.count(b"\n")
            # keep only what follows the last complete line (and that line, for the caller)
            self.buf = (self.buf + chunk)[-(len(chunk) + 4096):]
        lines = self.buf.split(b"\n")
        extra = got - count
        self.buf = b"\n".join(lines[len(lines) - 1 - extra:])
        return lines[len(lines) - 2 - extra]

    def read_reply(self, timeout=TIMEOUT):
        return json.loads(self.read_line(timeout))

    def next_tag(self):
        self.seq += 1
        return "t%d" % self.seq

    def send(self, execute, arguments=None, tag=None):
        tag = tag or self.next_tag()
        self.send_raw(encode(execute, arguments, tag))
        return tag

    def wait_for(self, tag, timeout=TIMEOUT):
        """Reads replies until the one tagged `tag`; others are kept in `self.others`."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_reply(max(0.001, deadline - time.monotonic()))
            if reply.get("tag") == tag:
                return reply
            self.others.append(reply)

    def request(self, execute, arguments=None, timeout=TIMEOUT):
        self.others = []
        return self.wait_for(self.send(execute, arguments), timeout)

    def ok(self, execute, arguments=None, timeout=TIMEOUT):
        reply = self.request(execute, arguments, timeout)
        assert "return" in reply, error_text(reply)
        return reply["return"]

    def err(self, execute, arguments=None, timeout=TIMEOUT):
        reply = self.request(execute, arguments, timeout)
        assert "error" in reply, reply
        return reply["error"]["code"], error_text(reply)


def encode(execute, arguments=None, tag=None):
    msg = {"execute": execute}
    if arguments is not None:
        msg["arguments"] = arguments
    if tag is not None:
        msg["tag"] = tag
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def error_text(reply):
    if "error" not in reply:
        return repr(reply)
    return base64.b64decode(reply["error"]["bufb64"], validate=True).decode()


def b64(data):
    return base64.b64encode(data).decode()


def timed(fn, *args, **kwargs):
    """(result, seconds)"""
    t = time.monotonic()
    r = fn(*args, **kwargs)
    return r, time.monotonic() - t


class Agent:
    def __init__(self, tmp_path, args=()):
        self.sock_path = str(tmp_path / "agent.sock")
        self.log_path = tmp_path / "agent.log"
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=%s" % (tmp_path / "no-bus"))
        # power commands act on files that do not exist here, never on the machine
        env.setdefault("PHX_TEST_POWER_DIR", str(tmp_path / "no-sys-power"))
        env.pop("G_MESSAGES_DEBUG", None)
        # Its own session: whatever it leaves running is found and killed with the group.
        self.proc = subprocess.Popen(
            [AGENT, "-m", "unix-listen", "-p", self.sock_path, "--no-config",
             "--runtime-dir", str(tmp_path / "run"), *args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self.clients = []

    def connect(self, timeout=TIMEOUT):
        """A new client; the agent is ready when this succeeds (it retries until then)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                c = Client(self.sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
                # BlockingIOError: the listen backlog is full (AF_UNIX says EAGAIN).
                if self.proc.poll() is not None:
                    raise RuntimeError("agent exited: " + self.log_path.read_text(errors="replace"))
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.clients.append(c)
        return c

    def status(self, key):
        """A /proc/PID/status figure in bytes (VmHWM, VmRSS, ...)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def hwm(self):
        return self.status("VmHWM")

    def rss(self):
        return self.status("VmRSS")

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.pid))

    def settle(self, quiet=1.0, timeout=20.0):
        """Waits until VmHWM has not grown for `quiet` seconds: the attack has peaked."""
        deadline = time.monotonic() + timeout
        last, since = self.hwm(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            assert self.alive(), "agent died (%r)" % self.proc.returncode
            now = self.hwm()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def assert_hwm(self, name):
        hwm = self.hwm()
        report(name, hwm_mib=hwm / MIB, bound_mib=HWM_MAX / MIB)
        if not ASAN:
            assert hwm <= HWM_MAX, "%s: peak %.0f MiB > PHX_MEMORY_HWM_MAX %.0f MiB" % (
                name, hwm / MIB, HWM_MAX / MIB)
        return hwm

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


def session_empty(pgid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    agent = item.funcargs.get("agent") if hasattr(item, "funcargs") else None
    if rep.failed and agent is not None:
        rep.sections.append(("agent log (tail)", agent.log_path.read_text(errors="replace")[-8000:]))


@pytest.fixture
def agent(tmp_path, request):
    a = Agent(tmp_path)
    try:
        yield a
    finally:
        # Everything is measured first and asserted only after the agent (and its session)
        # is gone, so a failed check never leaves a process behind.
        call = getattr(request.node, "rep_call", None)
        died = a.proc.returncode if not a.alive() else None
        try:
            hwm = a.hwm()
        except (OSError, KeyError):
            hwm = None
        code = a.stop()
        empty = session_empty(a.pid)
    assert died is None, "agent died during the test with status %r" % died
    assert code in (0, -signal.SIGTERM), "agent exited with %r" % code
    assert empty, "processes left behind in the agent's session"
    if call is not None and call.passed and hwm is not None:
        # The promise holds for the whole life of the agent, not only where a test looked.
        report("end-of-test", hwm_mib=hwm / MIB)
        if not ASAN:
            assert hwm <= HWM_MAX, "peak %.0f MiB > PHX_MEMORY_HWM_MAX %.0f MiB" % (hwm / MIB, HWM_MAX / MIB)


@pytest.fixture
def host(agent):
    return agent.connect()


def silent_fifo(path):
    """A FIFO with a writer and a reader that never act: the test holds an O_RDWR end open, so
    the agent's reads block (no EOF) and its writes block once the pipe buffer is full."""
    os.mkfifo(path)
    return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


class Fifos:
    """make(name) -> path of a silent FIFO; release(path) closes the test's end early (the
    agent's reads then see EOF); every end still open is closed when the test ends."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.fds = {}

    def make(self, name):
        p = str(self.tmp_path / name)
        self.fds[p] = silent_fifo(p)
        return p

    def release(self, path):
        os.close(self.fds.pop(path))

    def close_all(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


@pytest.fixture
def fifos(tmp_path):
    f = Fifos(tmp_path)
    yield f
    f.close_all()


def sparse_file(path, size):
    """A file of `size` bytes that costs no disk: reads of it are cheap zeros."""
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def open_handle(client, path, mode="r", **extra):
    args = {"path": path, "mode": mode}
    args.update(extra)
    return client.ok("file-open", args)


def no_reply_within(client, seconds):
    r, _, _ = select.select([client.sock], [], [], seconds)
    return not r and b"\n" not in client.buf
