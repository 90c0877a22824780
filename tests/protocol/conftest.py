"""Black-box harness: the real phoenix-ga binary on a unix socket in a temp dir."""
import base64
import json
import os
import pathlib
import select
import socket
import subprocess
import sys
import time

import pytest

# tests/lib: helpers more than one suite uses (e.g. the client on a pty, clientterm.py)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

ROOT = pathlib.Path(__file__).resolve().parents[2]
AGENT = os.environ.get("PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga"))
TIMEOUT = float(os.environ.get("PHX_TEST_TIMEOUT", "30"))


def needs_root(why):
    """Marks a test that needs root, saying why. CI runs as root and counts a skip as a
    failure; elsewhere the skip names what was not tested."""
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root: " + why)


def require_root(why):
    """The same for a fixture: skips every test that uses it."""
    if os.geteuid() != 0:
        pytest.skip("needs root: " + why)


class Client:
    """One host connection. Replies are matched by tag; untagged ones are read in order."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.buf = b""
        self.seq = 0

    def close(self):
        self.sock.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def read_line(self, timeout=TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply within %.1fs" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("agent closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_reply(self, timeout=TIMEOUT) -> dict:
        return json.loads(self.read_line(timeout))

    def request(self, execute, arguments=None, tag=None):
        """Sends one request and returns its reply (matched by tag)."""
        if tag is None:
            self.seq += 1
            tag = "t%d" % self.seq
        msg = {"execute": execute, "tag": tag}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send_raw(json.dumps(msg).encode() + b"\r\n")
        reply = self.read_reply()
        assert reply["tag"] == tag, reply
        return reply

    def ok(self, execute, arguments=None):
        reply = self.request(execute, arguments)
        assert "return" in reply, error_text(reply)
        return reply["return"]

    def err(self, execute, arguments=None):
        reply = self.request(execute, arguments)
        assert "error" in reply, reply
        return reply["error"]["code"], error_text(reply)

    def no_reply(self, wait=0.3):
        r, _, _ = select.select([self.sock], [], [], wait)
        return not r and b"\n" not in self.buf


def error_text(reply):
    if "error" not in reply:
        return repr(reply)
    return base64.b64decode(reply["error"]["bufb64"], validate=True).decode()


def wait_listening(path, proc, log_path, timeout=TIMEOUT):
    """Returns once a connect to the agent's socket succeeds. The socket file appears at
    bind(), before listen(): until then a connect is refused, so the file proves nothing.
    The probe connection is closed at once (the agent serves one host at a time, and a test
    may want that place for the client binary); the agent sees a host come and go."""
    deadline = time.monotonic() + timeout
    while True:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        finally:
            probe.close()
        if proc.poll() is not None:
            raise RuntimeError("agent exited with %r before listening: %s"
                               % (proc.returncode, pathlib.Path(log_path).read_text(errors="replace")))
        if time.monotonic() > deadline:
            raise RuntimeError("agent not listening on %s within %.0fs" % (path, timeout))
        # Polling the real state (a connect), not a guess at how long a start takes.
        time.sleep(0.005)


class Agent:
    def __init__(self, tmp_path, args=(), wrap=(), bus=None):
        self.sock_path = str(tmp_path / "agent.sock")
        self.log_path = tmp_path / "agent.log"
        self.log = open(self.log_path, "wb")
        # Never the machine's system bus: a private one when a test asks, else none at all.
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus or "unix:path=%s" % (tmp_path / "no-bus"))
        # Never the machine's /sys/power either: a test that sends guest-suspend-* (one that
        # walks every command, say) must not suspend the machine; the directory does not
        # exist, so every mode is "not supported" unless a test names its own files.
        env.setdefault("PHX_TEST_POWER_DIR", str(tmp_path / "no-sys-power"))
        # Never the machine's configuration file either, unless the test names one.
        config = [] if any(a == "--config" or a.startswith("--config=") for a in args) else ["--no-config"]
        self.proc = subprocess.Popen(
            list(wrap) + [AGENT, "-m", "unix-listen", "-p", self.sock_path, "--debug",
                          "--runtime-dir", str(tmp_path / "run"), *config, *args],
            env=env,
            stdout=self.log, stderr=subprocess.STDOUT)
        self.clients = []
        self.allowed_codes = (0, -15)
        try:
            wait_listening(self.sock_path, self.proc, self.log_path)
        except BaseException:
            # A fixture whose setup fails gets no teardown: never leave the agent running.
            self.stop()
            raise

    def connect(self):
        c = Client(self.sock_path)
        self.clients.append(c)
        return c

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
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and "agent_log" in item.funcargs:
        rep.sections.append(("agent log", item.funcargs["agent_log"]()))


@pytest.fixture
def agent(tmp_path):
    a = Agent(tmp_path)
    yield a
    code = a.stop()
    # A crash (signal) must never pass as a clean stop.
    assert code in a.allowed_codes, "agent exited with %r" % code
    sanitizer = a.log_path.read_text(errors="replace")
    assert "ERROR: AddressSanitizer" not in sanitizer and "runtime error:" not in sanitizer, sanitizer


@pytest.fixture
def agent_factory(tmp_path):
    """Agents with options of a test's own; stopped (and checked) at the end."""
    started = []

    def start(*args, wrap=()):
        d = tmp_path / ("agent%d" % len(started))
        d.mkdir()
        a = Agent(d, args=args, wrap=wrap)
        started.append(a)
        return a
    yield start
    for a in started:
        assert a.stop() in (0, -15)


@pytest.fixture
def agent_log(agent):
    return lambda: agent.log_path.read_text(errors="replace")


@pytest.fixture
def host(agent, agent_log):
    return agent.connect()


def wait_until(condition, what, timeout=TIMEOUT):
    """Polls a real state (a file descriptor, a process, a kernel setting) until it holds:
    readiness is observed, never guessed with a sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def holds_open(pid, path):
    """True while process `pid` has `path` open."""
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == str(path):
                return True
        except OSError:
            continue
    return False


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.fixture
def qga(tmp_path):
    """Debian's qemu-ga 7.2 beside the agent under test (see qgalib.py)."""
    from qgalib import QEMU_GA, QemuGa

    assert os.access(QEMU_GA, os.X_OK), "qemu-ga missing: scripts/deps.sh installs qemu-guest-agent"
    q = QemuGa(tmp_path)
    yield q
    q.stop()
