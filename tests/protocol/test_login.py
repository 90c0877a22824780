"""The login terminal (doc/protocol.md, "Login terminal (ext)"), black box: the real agent on a
unix socket, a raw socket speaking the spec's frames, and real shells on real pseudo-terminals.

Both faces (`login`, `__org.phoenixga_guest-login`), the shell a login gives (root, and test
users in a private mount namespace over a copy of /etc), window size and SIGWINCH, every way
of hanging up (h, close, EOF, an early e, a shell that ignores SIGHUP), the end (x, e, output
of what the shell left), the bound on sessions, the policy that ties login to exec, EBUSY,
frames the agent cannot read, flow both ways against a slow host and a terminal that reads
nothing, the idle and stall timeouts, and what the log says (and never says). The frozen case
is left out: tests never freeze the machine, and the agent has no fake freeze backend.

Nothing waits by sleeping: output is read with a deadline until the text wanted appears, and
markers are produced by shell arithmetic (`$((6*7))`) so that the terminal's echo of what was
typed never matches them."""
import json
import os
import pathlib
import re
import select
import shutil
import socket
import struct
import tempfile
import time

import pytest

from conftest import Agent, error_text, needs_root, wait_until

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


# --- both faces: the reply, the stream, the exit, back to requests ---------------------------

def test_login_stream_exit_and_requests_again(terms):
    t = terms()
    s = t.login_ok()
    assert os.path.exists("/proc/%d" % s["pid"])
    t.type("echo marker-$((6*7))\n")
    t.expect(b"marker-42")
    t.type("exit 3\n")
    assert t.wait_exit() == {"exitcode": 3}
    t.send(b"e")
    r = t.request("ping")
    assert r["return"] == "0.1.0", r
    wait_until(lambda: gone(s["pid"]), "the shell reaped", DEADLINE)


def test_qemu_ga_face_login_stream_exit_and_requests_again(terms):
    t = terms()
    r = t.login(qga=True)
    assert set(r) == {"return", "id"}, r
    check_session(r["return"])
    t.type("echo marker-$((6*7))\n")
    t.expect(b"marker-42")
    t.type("exit 3\n")
    assert t.wait_exit() == {"exitcode": 3}
    t.send(b"e")
    assert t.qga("guest-ping") == {"return": {}, "id": t.seq}


def test_qemu_ga_face_with_or_without_newline_blanks_before_the_first_frame(terms):
    """qemu-ga's clients end a request with a newline or not; blanks before the stream's
    first frame are the request line's, not a frame type."""
    for newline, after in ((False, b""), (True, b""), (True, b"\r\n  \n" + frame(b"i", b"echo early-$((6*7))\n"))):
        t = terms()
        r = t.login(qga=True, newline=newline, after=after)
        assert "return" in r, r
        t.type("echo nl-$((6*7))\n")
        t.expect(b"nl-42")
        t.type("exit 2\n")
        assert t.wait_exit() == {"exitcode": 2}
        t.send(b"e")
        assert t.qga("guest-ping") == {"return": {}, "id": t.seq}


def test_sessions_have_their_own_numbers_and_terminals(terms):
    a, b = terms(), terms()
    sa, sb = a.login_ok(), b.login_ok(qga=True)
    assert sa["session"] != sb["session"] and sa["tty"] != sb["tty"] and sa["pid"] != sb["pid"]
    assert a.run("tty") == sa["tty"] and b.run("tty") == sb["tty"]


def test_bytes_sent_behind_the_login_request_are_the_streams(terms):
    t = terms()
    t.login(after=frame(b"i", b"echo early-$((6*7))\n"))
    check_session(t.session)
    t.expect(b"early-42")


def test_frames_after_x_are_dropped_until_e(terms):
    t = terms()
    t.login_ok()
    t.type("exit 3\n")
    assert t.wait_exit() == {"exitcode": 3}
    # an input frame after x is dropped, not read as a request
    t.seq += 1
    t.sock.sendall(frame(b"i", b"echo late\n") + frame(b"e") + t.phx_bytes("ping", None, "after"))
    r = t.line()
    assert r.get("tag") == "after" and "return" in r, r


def test_e_before_x_hangs_up_and_requests_follow(terms):
    """`e` may come before `x` ("in either order"): the host types no more after it, so the
    session is hung up; x still goes out, and what the host sent after `e` is requests."""
    t = terms()
    pid = t.login_ok()["pid"]
    assert t.run("echo up") == "up"
    t.sock.sendall(frame(b"e") + t.phx_bytes("ping", None, "after-e"))
    x = t.wait_exit()
    assert x.get("hung-up") is True, x
    r = t.line()
    assert r.get("tag") == "after-e" and "return" in r, r
    wait_until(lambda: gone(pid), "the shell gone after an early e", DEADLINE)


# --- the shell a login gives -----------------------------------------------------------------

def test_root_gets_a_login_shell_on_its_terminal(terms):
    t = terms()
    s = t.login_ok()
    pid = s["pid"]
    assert t.run("id -u") == "0"
    assert t.run("echo $HOME $USER $LOGNAME $SHELL $TERM") == "/root root root /bin/bash vt220"
    assert t.run("tty") == s["tty"]
    assert t.run("pwd") == "/root"
    assert t.run("echo $0") == "-bash"
    assert t.run("echo $$") == str(pid)
    assert "/usr/bin" in t.run("echo $PATH").split(":")
    assert t.run("stty size") == "24 80"
    # the environment is a login's, not the agent's
    assert t.run("echo ${PHX_TEST_POWER_DIR-unset} ${DBUS_SYSTEM_BUS_ADDRESS-unset}") == "unset unset"
    # a session of its own, whose controlling terminal is the one in the reply
    _, _, pgrp, sid, tty_nr = proc_stat(pid)
    assert sid == pid and pgrp == pid
    rdev = os.stat(s["tty"]).st_rdev
    assert (os.major(rdev), os.minor(rdev)) == ((tty_nr >> 8) & 0xfff, (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00))
    assert pathlib.Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[0] == b"-bash"


def test_term_argument_is_the_terminals_name(terms):
    t = terms()
    t.login_ok(term="xterm-256color")
    assert t.run("echo $TERM") == "xterm-256color"


UID, GID, EXTRA_GID, BOB, CAROL = 4242, 4242, 4343, 4243, 4244
ETC_KEPT = ["passwd", "group", "shadow", "gshadow", "nsswitch.conf", "login.defs", "pam.conf", "pam.d", "security",
            "environment", "default", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "host.conf",
            "profile", "profile.d", "bash.bashrc", "inputrc", "terminfo", "shells"]


class World:
    """A copy of /etc with alice (bash, a home of her own, a second group) and bob (no shell
    named, a home that does not exist); the agent runs with it in a private mount namespace."""

    def __init__(self, base):
        self.etc = base / "etc"
        self.etc.mkdir()
        for name in ETC_KEPT:
            src = pathlib.Path("/etc") / name
            if src.is_dir():
                shutil.copytree(src, self.etc / name, symlinks=True)
            elif src.exists():
                shutil.copy2(src, self.etc / name)
        self.home = base / "home" / "alice"
        self.home.mkdir(parents=True)
        os.chown(self.home, UID, GID)
        self.missing_home = base / "home" / "bob"
        with open(self.etc / "passwd", "a") as f:
            f.write("alice:x:%d:%d::%s:/bin/bash\n" % (UID, GID, self.home))
            f.write("bob:x:%d:%d::%s:\n" % (BOB, BOB, self.missing_home))
            # a home she may not enter (root's, 0700)
            f.write("carol:x:%d:%d::/root:/bin/bash\n" % (CAROL, CAROL))
        with open(self.etc / "group", "a") as f:
            f.write("alice:x:%d:\n" % GID)
            f.write("bob:x:%d:\n" % BOB)
            f.write("carol:x:%d:\n" % CAROL)
            f.write("logintest:x:%d:alice\n" % EXTRA_GID)
        with open(self.etc / "shadow", "a") as f:
            f.write("alice:*:19000:0:99999:7:::\n")
            f.write("bob:*:19000:0:99999:7:::\n")
            f.write("carol:*:19000:0:99999:7:::\n")

    def wrap(self):
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc && exec "$@"',
                str(self.etc)]


@pytest.fixture
def world():
    # not under pytest's tmp_path: its parents are 0700 root, and alice must reach her home
    base = tempfile.mkdtemp(prefix="phx-login-", dir="/tmp")
    os.chmod(base, 0o755)
    yield World(pathlib.Path(base))
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def world_agent(world, agent_factory):
    return agent_factory(wrap=world.wrap())


def test_a_user_gets_their_own_ids_groups_and_home(world, world_agent):
    t = Term(world_agent.sock_path)
    try:
        s = t.login_ok(user="alice")
        assert t.run("id -u; id -g") == "%d\n%d" % (UID, GID)
        assert set(t.run("id -G").split()) == {str(GID), str(EXTRA_GID)}  # nothing of root's
        assert t.run("echo $HOME $USER $LOGNAME $SHELL") == "%s alice alice /bin/bash" % world.home
        assert t.run("pwd") == str(world.home)
        assert t.run("echo $0") == "-bash"
        assert t.run("tty") == s["tty"]
        assert t.run("umask") == "0022"  # login's, not the agent's
        # her terminal is hers, group tty (the copy of /etc has it), nobody else's to read
        assert t.run("stat -c '%U %G %a' $(tty)") == "alice tty 620"
        st = proc_status(s["pid"])
        assert st["Uid"] == [str(UID)] * 4 and st["Gid"] == [str(GID)] * 4
        assert set(st["Groups"]) == {str(GID), str(EXTRA_GID)}
        assert proc_stat(s["pid"])[3] == s["pid"]
        t.type("exit 0\n")
        assert t.wait_exit() == {"exitcode": 0}
    finally:
        t.close()


def test_a_home_the_user_may_not_enter_is_not_entered_as_root(world, world_agent):
    """The home directory is entered as the user, after the ids are dropped: one the user
    may not enter is left for `/`, as login(1) leaves it."""
    assert os.stat("/root").st_mode & 0o077 == 0
    t = Term(world_agent.sock_path)
    try:
        t.login_ok(user="carol")
        assert t.run("id -u") == str(CAROL)
        assert t.run("pwd") == "/"
        t.type("exit 0\n")
        assert t.wait_exit() == {"exitcode": 0}
    finally:
        t.close()


def test_no_shell_named_is_sh_and_a_missing_home_is_root_dir(world, world_agent):
    t = Term(world_agent.sock_path)
    try:
        s = t.login_ok(qga=True, user="bob")
        assert t.run("id -u") == str(BOB)
        assert t.run("pwd") == "/"
        assert t.run("echo $0") == "-sh"
        assert pathlib.Path("/proc/%d/cmdline" % s["pid"]).read_bytes().split(b"\0")[0] == b"-sh"
    finally:
        t.close()


def test_unknown_user_is_refused_and_requests_go_on(terms):
    t = terms()
    r = t.login(user="no-such-user-xyz")
    assert "error" in r, r
    assert "return" in t.request("ping")
    r = t.login(qga=True, user="no-such-user-xyz")
    assert r["error"]["class"] == "GenericError", r
    assert t.qga("guest-ping") == {"return": {}, "id": t.seq}


def test_requests_behind_a_refused_login_in_the_same_write_are_answered_in_order(terms):
    """The bytes behind a login are held until its fate is known: refused, they are requests
    again, framed and answered in order (three in one write, in both dialects)."""
    t = terms()
    behind = b"".join(t.phx_bytes("ping", None, "b%d" % i) for i in range(3))
    r = t.login(user="no-such-user-xyz", after=behind)
    assert "error" in r, r
    assert [t.line().get("tag") for _ in range(3)] == ["b0", "b1", "b2"]
    behind = b"".join(t.qga_bytes("guest-ping", None, 900 + i)[:-1] for i in range(3))
    r = t.login(qga=True, newline=False, user="no-such-user-xyz", after=behind)
    assert r["error"]["class"] == "GenericError", r
    assert [t.line().get("id") for _ in range(3)] == [900, 901, 902]


@pytest.mark.parametrize("arguments", [
    {"rows": 0}, {"rows": 65536}, {"cols": 0}, {"cols": 65536}, {"rows": -1},
    {"term": "vt100 x"}, {"term": "../../etc/passwd"}, {"term": "a" * 65}, {"term": "vt\n100"},
], ids=["rows0", "rows65536", "cols0", "cols65536", "rows-1", "term-space", "term-slash", "term-65", "term-nl"])
def test_bad_arguments_are_refused(terms, arguments):
    t = terms()
    r = t.login(**arguments)
    assert "error" in r, r
    assert "return" in t.request("ping")


def test_qemu_ga_face_refuses_unknown_arguments(terms):
    t = terms()
    r = t.login(qga=True, shell="/bin/sh")
    assert r["error"] == {"class": "GenericError", "desc": "Parameter 'shell' is unexpected"}, r
    assert t.qga("guest-ping") == {"return": {}, "id": t.seq}


def test_a_request_line_of_256_kib_is_refused(terms):
    t = terms()
    r = t.login(padding="x" * (256 * 1024))
    assert "error" in r, r
    assert "return" in t.request("ping")


# --- window size -----------------------------------------------------------------------------

def test_window_size_argument_resize_and_sigwinch(terms):
    t = terms()
    t.login_ok(rows=30, cols=100)
    assert t.run("stty size") == "30 100"
    # the foreground job (a bash of its own, in the foreground) traps SIGWINCH
    t.type("bash -c 'trap \"echo WINCH-\\$((2+3)); exit\" WINCH; echo ready-$((1+1)); "
           "while :; do sleep 0.1; done'\n")
    t.expect(b"ready-2")
    t.resize(40, 120)
    t.expect(b"WINCH-5")
    assert t.run("stty size") == "40 120"
    t.resize(65535, 1)
    assert t.run("stty size") == "65535 1"


# --- hang-up ---------------------------------------------------------------------------------

def test_host_closing_hangs_up_the_shell_and_its_foreground_job(terms, tmp_path):
    t = terms()
    pid = t.login_ok()["pid"]
    mark = tmp_path / "hup"
    t.type("bash -c 'trap \"echo hup > %s; exit\" HUP; echo ready-$((1+1)); while :; do sleep 0.1; done'\n" % mark)
    t.expect(b"ready-2")
    t.close()
    wait_until(lambda: mark.exists() and mark.read_text() == "hup\n", "the foreground job got SIGHUP", DEADLINE)
    wait_until(lambda: gone(pid), "the login shell gone after the host closed", DEADLINE)


def test_h_frame_hangs_up_and_x_says_so(terms):
    t = terms()
    pid = t.login_ok()["pid"]
    assert t.run("echo up") == "up"
    t.send(b"h")
    x = t.wait_exit()
    assert x.get("hung-up") is True, x
    assert set(x) in ({"exitcode", "hung-up"}, {"signal", "hung-up"}), x
    t.send(b"e")
    assert "return" in t.request("ping")
    wait_until(lambda: gone(pid), "the shell gone after h", DEADLINE)


def test_host_shutting_down_its_sending_side_hangs_up(terms):
    t = terms()
    pid = t.login_ok()["pid"]
    assert t.run("echo up") == "up"
    t.sock.shutdown(socket.SHUT_WR)
    x = t.wait_exit()
    assert x.get("hung-up") is True, x
    wait_until(lambda: gone(pid), "the shell gone after the host's EOF", DEADLINE)


def test_a_shell_ignoring_sighup_is_killed_after_the_grace(terms):
    t = terms()
    pid = t.login_ok()["pid"]
    # busy in a loop, so the shell does not read the hung-up terminal's end of file either
    t.type("trap '' HUP; echo ready-$((1+1)); while :; do sleep 0.2; done\n")
    t.expect(b"ready-2")
    t0 = time.monotonic()
    t.send(b"h")
    x = t.wait_exit(HANGUP_GRACE_S + DEADLINE)
    waited = time.monotonic() - t0
    assert x == {"signal": 9, "hung-up": True}, x
    assert waited >= HANGUP_GRACE_S - 0.5, "killed after %.1fs, before the grace" % waited
    wait_until(lambda: gone(pid), "the shell reaped", DEADLINE)


def test_the_job_that_had_the_terminal_goes_with_a_shell_that_ignored_sighup(terms):
    """Under job control the foreground job is a process group of its own: the SIGKILL after
    the grace reaches it as well as the shell's group."""
    marker = "phx-fgjob-%d" % os.getpid()
    t = terms()
    pid = t.login_ok()["pid"]
    try:
        t.type("set -m; trap '' HUP; bash -c 'trap \"\" HUP; echo fg-$((2+2)); exec -a %s sleep 300'\n" % marker)
        t.expect(b"fg-4")
        wait_until(lambda: marked(marker), "the foreground job", DEADLINE)
        job = marked(marker)[0]
        assert os.getpgid(job) != os.getpgid(pid)
        t.send(b"h")
        assert t.wait_exit(HANGUP_GRACE_S + DEADLINE).get("hung-up") is True
        wait_until(lambda: gone_or_zombie(job), "the foreground job killed", DEADLINE)
    finally:
        kill_marked(marker)


# --- frames the agent cannot read ------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    frame(b"z", b""),
    frame(b"o", b"x"),
    b"i" + struct.pack(">I", FRAME_MAX + 1) + b"a" * 16,
    frame(b"w", b"\0\x10\0"),
    frame(b"w", b"\0\x10\0\x10\0"),
    frame(b"w", b"\0\0\0\x50"),
    frame(b"h", b"x"),
], ids=["unknown-type", "agent-type", "input-too-long", "resize-3-bytes", "resize-5-bytes", "resize-0-rows",
        "hang-up-with-payload"])
def test_an_unreadable_frame_closes_the_connection_and_ends_the_shell(terms, bad):
    t = terms()
    pid = t.login_ok()["pid"]
    assert t.run("echo up") == "up"
    try:
        t.sock.sendall(bad)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t.wait_closed()
    wait_until(lambda: gone(pid), "the shell gone after a protocol violation", DEADLINE)


# --- bounds ----------------------------------------------------------------------------------

def test_four_sessions_at_once_the_fifth_refused_until_one_ends(terms):
    ts = [terms() for _ in range(SESSIONS_MAX + 1)]
    sessions = [t.login_ok(qga=(i % 2 == 1)) for i, t in enumerate(ts[:SESSIONS_MAX])]
    assert len({s["session"] for s in sessions}) == SESSIONS_MAX
    for i, t in enumerate(ts[:SESSIONS_MAX]):
        assert t.run("echo s-$((%d+100))" % i) == "s-%d" % (i + 100)
    fifth = ts[SESSIONS_MAX]
    r = fifth.login()
    assert r["error"]["code"] == EAGAIN, r
    assert "return" in fifth.request("ping")
    r = fifth.login(qga=True)
    assert r["error"]["class"] == "GenericError", r
    assert fifth.qga("guest-ping") == {"return": {}, "id": fifth.seq}
    # one ends (its host read x, said e, and is answered again): its place is free
    ts[0].type("exit\n")
    assert ts[0].wait_exit() == {"exitcode": 0}
    ts[0].send(b"e")
    assert "return" in ts[0].request("ping")
    s = fifth.login_ok()
    assert fifth.run("echo fifth-$((2+3))") == "fifth-5"
    assert s["session"] not in {x["session"] for x in sessions[1:]}


# --- policy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["block-exec", "allow-without-exec", "config-block-exec"])
def test_login_is_disabled_wherever_exec_is(agent_factory, tmp_path, how):
    if how == "block-exec":
        a = agent_factory("--block-commands", "exec")
    elif how == "allow-without-exec":
        a = agent_factory("--allow-commands", "login,file-stat")
    else:
        conf = tmp_path / "agent.conf"
        conf.write_text("[general]\nblock-commands = exec\n")
        a = agent_factory("--config", str(conf))
    t = Term(a.sock_path)
    try:
        r = t.login()
        assert "error" in r and "disabled" in error_text(r), r
        assert "login" not in t.request("get-commands")["return"]
        assert "return" in t.request("ping")
    finally:
        t.close()


def test_login_is_enabled_with_exec(agent_factory):
    a = agent_factory("--allow-commands", "login,exec")
    t = Term(a.sock_path)
    try:
        assert "login" in t.request("get-commands")["return"]
        t.login_ok()
        assert t.run("echo ok-$((1+1))") == "ok-2"
    finally:
        t.close()


def test_qemu_ga_face_is_disabled_when_guest_exec_is(agent_factory):
    a = agent_factory("--block-commands", "guest-exec")
    t = Term(a.sock_path)
    try:
        r = t.login(qga=True)
        assert r["error"]["class"] == "CommandNotFound" and "disabled" in r["error"]["desc"], r
        assert t.qga("guest-ping") == {"return": {}, "id": t.seq}
    finally:
        t.close()


# --- EBUSY -----------------------------------------------------------------------------------

def test_login_behind_an_unanswered_request_is_ebusy(terms, tmp_path):
    """A guest-file-read of a FIFO that has a writer but no data waits (up to 10 s) for data:
    a request of this connection that is certainly unanswered when the login arrives."""
    t = terms()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    handle = t.qga("guest-file-open", {"path": str(fifo), "mode": "r"})["return"]
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        t.sock.sendall(t.qga_bytes("guest-file-read", {"handle": handle, "count": 16}, "read") +
                       t.phx_bytes("login", None, "busy"))
        r = t.line()
        assert r.get("tag") == "busy" and r["error"]["code"] == EBUSY, r
        os.write(w, b"data")
        r = t.line()
        assert r["id"] == "read" and r["return"]["buf-b64"] == "ZGF0YQ==", r
    finally:
        os.close(w)
    assert "return" in t.qga("guest-file-close", {"handle": handle})
    # nothing owed now: a login works
    t.login_ok()
    assert t.run("echo ok-$((1+1))") == "ok-2"


# --- output flow -----------------------------------------------------------------------------

def test_large_output_arrives_whole_to_a_slow_host(terms):
    size = 5000000
    t = terms()
    pid = t.login_ok()["pid"]
    t.type("echo S-$((6*7)); head -c %d /dev/zero | tr '\\0' Z; echo; echo E-$((6*7))\n" % size)

    def writer():
        for c in children(pid):
            if comm(c) == "tr":
                return c
        return None
    wait_until(lambda: writer() is not None, "tr started", DEADLINE)
    tr = writer()
    # The host reads nothing for a moment. However long the moment, tr cannot have written
    # all of it: the agent reads the terminal only while less than 256 KiB waits for us.
    time.sleep(1.0)
    try:
        io = dict(line.split(": ") for line in pathlib.Path("/proc/%d/io" % tr).read_text().splitlines())
    except FileNotFoundError:
        raise AssertionError("tr wrote all its output to a host that reads nothing")
    assert int(io["wchar"]) < size // 2, "tr wrote %s bytes to a host that reads nothing" % io["wchar"]
    begin = t.expect(b"S-42")
    end = t.expect(b"E-42")
    assert bytes(t.out[begin:end]).count(b"Z") == size
    assert bytes(t.out[begin + 4:end]).strip(b"Z\r\n") == b""


# --- the log ---------------------------------------------------------------------------------

def test_log_has_start_and_end_and_never_what_was_typed(agent, agent_log, terms):
    t = terms()
    before = len(agent_log())
    s = t.login_ok(term="vt100")
    pid = str(s["pid"])

    def new_lines():
        return agent_log()[before:].splitlines()

    def start_line():
        return [ln for ln in new_lines() if "root" in ln and pid in ln and s["tty"] in ln]
    wait_until(start_line, "a start line naming the user, the shell's pid and the terminal", DEADLINE)
    first = start_line()[0]
    t.type(": typed-Xyzzy-secret\n")
    t.type("echo shown-$((6*7))-Plugh\n")
    t.expect(b"shown-42-Plugh")
    t.type("exit 5\n")
    assert t.wait_exit() == {"exitcode": 5}
    t.send(b"e")
    assert "return" in t.request("ping")

    def end_line():
        lines = new_lines()
        return [ln for ln in lines[lines.index(first) + 1:]
                if "root" in ln and s["tty"] in ln and re.search(r"\b5\b", ln) and not re.search(r"hung|hang", ln)]
    wait_until(end_line, "an end line naming the user and how the shell ended", DEADLINE)
    # a session that was hung up says so, and by whom
    before_second = len(new_lines())
    s = t.login_ok()
    assert t.run("echo up") == "up"
    t.send(b"h")
    assert t.wait_exit().get("hung-up") is True

    def hang_up_line():
        return [ln for ln in new_lines()[before_second:]
                if "root" in ln and s["tty"] in ln and re.search(r"hung|hang", ln)]
    wait_until(hang_up_line, "an end line saying the host hung up", DEADLINE)
    log = agent_log()
    assert "Xyzzy" not in log and "Plugh" not in log and "shown-42" not in log


def test_a_host_typing_faster_than_the_terminal_takes_is_read_no_more(terms):
    """The shell sleeps in the foreground and reads nothing: once the terminal's input buffer
    is full, the agent stops reading the host, so the host's writes stop being taken. (Whole
    lines of comments: a canonical-mode terminal drops the excess of a line without end.)"""
    t = terms()
    pid = t.login_ok()["pid"]
    t.type("echo ready-$((1+1)); sleep 60\n")
    t.expect(b"ready-2")
    chunk = frame(b"i", (b"#" + b"y" * 62 + b"\n") * 1024)  # 64 KiB of whole lines
    budget, sent = 64 << 20, 0
    t.sock.setblocking(False)
    pending = memoryview(chunk)
    while sent < budget:
        try:
            n = t.sock.send(pending)
        except BlockingIOError:
            # not taken for 2 s: the agent has stopped reading (an agent that takes all we
            # send would have taken it long before; the assertion below does not depend on
            # this wait's length, only on it ending)
            _, w, _ = select.select([], [t.sock], [], 2.0)
            if not w:
                break
            continue
        sent += n
        pending = pending[n:] if n < len(pending) else memoryview(chunk)
    assert sent < 16 << 20, "the agent took %d bytes the terminal did not read" % sent
    t.close()
    wait_until(lambda: gone(pid), "the shell gone after the host closed", DEADLINE)


def test_the_idle_timeout_does_not_run_on_a_terminal(agent_factory):
    a = agent_factory("--client-idle-timeout", "1")
    t = Term(a.sock_path)
    idle = Term(a.sock_path)
    try:
        t.login_ok()
        assert t.run("echo up") == "up"  # from here the host sends nothing on the terminal
        idle.sock.sendall(idle.phx_bytes("ping", None, "p"))
        assert idle.line()["tag"] == "p"
        # an idle request connection is dropped (observed, not timed) ...
        idle.wait_closed(DEADLINE)
        # ... while the terminal, idle at least as long, is still a terminal
        assert t.run("echo alive-$((6*7))") == "alive-42"
    finally:
        t.close()
        idle.close()


def test_the_stall_timeout_runs_on_a_terminal(agent_factory):
    """A host that leaves the terminal's output unread is dropped after the stall timeout,
    and that hangs the terminal up."""
    a = agent_factory("--client-stall-timeout", "1")
    t = Term(a.sock_path)
    try:
        pid = t.login_ok()["pid"]
        t.type("echo ready-$((1+1)); yes\n")
        t.expect(b"ready-2")
        # from here the host reads nothing
        wait_until(lambda: gone(pid), "the shell hung up after the host stalled", DEADLINE)
        t.wait_closed(DEADLINE)
    finally:
        t.close()


def test_output_of_what_the_shell_left_is_forwarded_for_the_grace_then_x(terms, tmp_path):
    """The shell exits leaving a job that writes half a second later (forwarded, before x)
    and one that holds the terminal for 100 s (x goes out after the 2 s grace anyway)."""
    t = terms()
    t.login_ok()
    left = tmp_path / "left.pid"
    t0 = time.monotonic()
    t.type("sleep 100 & echo $! > %s; (sleep 0.5; echo left-$((6*7))) & exit 0\n" % left)
    try:
        x = t.wait_exit()
        waited = time.monotonic() - t0
        assert x == {"exitcode": 0}, x
        assert b"left-42" in t.out
        assert waited < 2.0 + DEADLINE / 2, "x after %.1fs: the leftover held it up" % waited
    finally:
        wait_until(lambda: left.exists() and left.read_text().strip(), "the leftover's pid", DEADLINE)
        os.kill(int(left.read_text()), 9)


# --- found by review (tests/protocol/test_login.py is run under ASan in CI too) ---------------

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


def test_a_host_that_stops_reading_while_a_leftover_writes(agent, agent_log, terms):
    """The shell exits leaving a writer on its terminal (the drain grace runs) and the host
    shuts its reading side: the agent learns it from a write that fails while it forwards
    that output, which ends the session inside the write (it once went on with the freed
    session: ASan's heap-use-after-free). The agent serves on."""
    marker = "phx-leftover-%d" % os.getpid()
    try:
        t = terms()
        t.login_ok()
        t.type('setsid bash -c "exec -a %s yes" </dev/null & exit\n' % marker)
        t.expect(b"y\r\ny\r\n")
        t.sock.shutdown(socket.SHUT_RD)
        wait_until(lambda: re.search(r"login session \d+: user 'root' on \S+ ended", agent_log()),
                   "the session's end", DEADLINE)
        assert "return" in terms().request("ping")
    finally:
        kill_marked(marker)


def test_an_unreadable_frame_after_the_shell_exited_is_one_error(agent, agent_log, terms):
    """A frame the agent cannot read while the shell has exited and a leftover holds the
    terminal: one protocol error, the connection closed (the session's end must not read
    that frame a second time)."""
    marker = "phx-nested-%d" % os.getpid()
    try:
        t = terms()
        shell = t.login_ok()["pid"]
        t.type("setsid bash -c 'exec -a %s sleep 30' & echo gone-$((6*7)); exit\n" % marker)
        t.expect(b"gone-42")
        wait_until(lambda: gone(shell), "the shell's exit", DEADLINE)
        t.sock.sendall(b"Z\0\0\0\0")
        wait_until(lambda: re.search(r"login session \d+: user 'root' on \S+ ended", agent_log()),
                   "the session's end", DEADLINE)
        assert agent_log().count("a frame of unknown type") == 1, agent_log()
        assert "return" in terms().request("ping")
    finally:
        kill_marked(marker)
