"""phoenix-ga-client login: the client on a real pseudo-terminal of its own (its session's
controlling terminal, as under a terminal emulator), typing into a login shell the real agent
starts. The "guest" is this machine: the shell is root's login shell, which only reads.

Markers are computed by the remote shell (`echo hi-$((6*7))` prints hi-42, while the echo of
what was typed shows the formula), so a match proves the command ran there. Every wait has a
deadline; nothing sleeps for correctness."""
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import clientterm
from clientterm import set_size
from conftest import TIMEOUT, wait_until
from test_client import CLIENT, complete


class Terminal(clientterm.Terminal):
    def __init__(self, sock, *args, **kw):
        super().__init__(CLIENT, sock, *args, timeout=TIMEOUT, **kw)


@pytest.fixture
def terminal(agent):
    made = []

    def start(*args, **kw):
        t = Terminal(agent.sock_path, *args, **kw)
        made.append(t)
        return t
    yield start
    for t in made:
        t.close()


def shell_ready(t):
    """The remote shell runs commands (readiness is an answer, not a delay)."""
    t.type(b"echo ready-$((40+2))\r")
    t.expect(rb"ready-42")


def test_typed_command_runs_and_exit_status_is_the_shells(terminal):
    t = terminal()
    t.wait_raw()
    t.type(b"echo hi-$((6*7))\r")
    t.expect(rb"hi-42")
    t.type(b"exit 7\r")
    assert t.wait() == 7, t.stderr()
    assert t.restored(), "terminal modes not restored"


def test_a_shell_killed_by_a_signal_is_128_plus_n(terminal):
    t = terminal()
    shell_ready(t)
    t.type(b"kill -KILL $$\r")
    assert t.wait() == 128 + signal.SIGKILL
    assert t.restored()


def test_ctrl_c_is_a_byte_for_the_remote_shell(terminal):
    """Raw mode: Ctrl-C interrupts the guest's foreground job, not the client."""
    t = terminal()
    shell_ready(t)
    # the job says it started once it is the terminal's foreground (bash hands the terminal
    # over before the exec): a Ctrl-C sooner would be the waiting shell's, not the job's
    t.type(b"sh -c 'echo started-$((1+1)); exec sleep 300'; echo not-$((1+1))-interrupted\r")
    t.expect(rb"started-2\r\n")
    t.type(b"\x03")
    t.type(b"echo after-$((2*21))\r")
    t.expect(rb"after-42")
    assert b"not-2-interrupted" not in t.seen
    assert t.proc.poll() is None
    t.type(b"exit 0\r")
    assert t.wait() == 0
    assert t.restored()


def test_size_is_sent_at_login_and_on_resize(terminal):
    t = terminal(rows=31, cols=97)
    t.type(b"stty size\r")
    t.expect(rb"31 97\r\n")
    # a terminal emulator's resize: TIOCSWINSZ, and the kernel sends the client SIGWINCH
    set_size(t.master, 53, 141)
    t.type(b"stty size\r")
    t.expect(rb"53 141\r\n")
    t.type(b"exit\r")
    assert t.wait() == 0
    assert t.restored()


def test_term_from_the_option_then_the_environment(agent, terminal):
    env = dict(os.environ, TERM="xterm-256color")
    for args, term in ((("--term", "vt100"), b"vt100"), ((), b"xterm-256color")):
        t = terminal(*args, env=env)
        t.type(b'echo "T=${TERM}."\r')
        t.expect(rb"T=" + re.escape(term) + rb"\.")
        t.type(b"exit\r")
        assert t.wait() == 0
    # not a terminal name: left out, and the guest's default (vt220) is used
    t = terminal(env=dict(os.environ, TERM="bad/term"))
    t.type(b'echo "T=${TERM}."\r')
    t.expect(rb"T=vt220\.")
    t.type(b"exit\r")
    assert t.wait() == 0


def test_tilde_dot_disconnects(terminal):
    t = terminal()
    shell_ready(t)
    # "~~" at the start of a line sends one '~': the here-document's line is "~x"
    t.type(b"cat <<E | wc -c | sed s/^/count-/\r~~x\rE\r")
    assert t.expect(rb"count-(\d+)").group(1) == b"3"
    # "~." while a command runs: the agent hangs the terminal up, the client leaves
    t.type(b"sleep 300\r")
    t.expect(rb"sleep 300")
    start = time.monotonic()
    t.type(b"\r~.")
    assert t.wait() == 255
    took = time.monotonic() - start
    assert t.restored()
    assert "disconnected" in t.stderr()
    assert took < 9, "waited %.1fs for the end" % took  # the agent's 5 s grace at most


def test_piped_stdin_runs_and_exits_with_the_status(agent):
    """No terminal at all: the bytes are typed into the guest's terminal as they come, its
    end is a Ctrl-D, and "~." is data (escapes are for terminals)."""
    out = subprocess.run([CLIENT, "-s", agent.sock_path, "login"],
                         input=b'echo pi""ped\n~.\nexit 4\n', capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 4, out
    assert re.search(rb"[\r\n]piped\r\n", out.stdout), out.stdout
    out = subprocess.run([CLIENT, "-s", agent.sock_path, "login"], input=b"exit 3\n",
                         capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 3, out


def test_end_of_piped_input_is_a_ctrl_d(agent):
    """At the end of stdin the guest's terminal gets one Ctrl-D: a program reading it line by
    line (cat here) reads its end of file. The pipe is closed once cat runs: bash's line
    editor, had the Ctrl-D come while it read, would have seen a NUL (see the man page)."""
    proc = subprocess.Popen([CLIENT, "-s", agent.sock_path, "login"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"echo cat-starts-$((1+1)); cat; echo cat-ended-$((2*3)); exit 5\n")
        proc.stdin.flush()
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"cat-starts-2\r\n" not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            if select.select([proc.stdout], [], [], 0.2)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        proc.stdin.close()
        while True:  # to the client's end (its stdout closes with it)
            assert time.monotonic() < deadline, seen
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk
        proc.wait(TIMEOUT)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 5, (seen, err)
    assert b"cat-ended-6\r\n" in seen


def test_much_output_arrives_whole(terminal):
    t = terminal()
    t.type(b"seq 200000; echo end-$((7*7))\r")
    t.expect(rb"\r\n200000\r\nend-49\r\n", timeout=120)
    assert b"\r\n100000\r\n100001\r\n" in t.seen
    t.type(b"exit 0\r")
    assert t.wait() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_ends_the_client_with_the_terminal_restored(agent, terminal, sig):
    t = terminal()
    shell_ready(t)
    assert t.raw() and not t.restored()  # what is to be undone
    t.proc.send_signal(sig)
    assert t.wait() == -sig, t.stderr()
    assert t.restored()
    # the connection closed with it: the agent hung the session up
    wait_until(lambda: re.search(r"login session \d+: .* ended .*hung up", agent.log_path.read_text()),
               "the session's end in the agent's log")


def test_lost_connection_exits_255_with_the_terminal_restored(agent, terminal):
    t = terminal()
    shell_ready(t)
    agent.allowed_codes = (0, -15, -signal.SIGKILL)
    agent.proc.kill()  # the connection goes without a word
    assert t.wait() == 255
    assert t.restored()
    assert "login: the session was lost" in t.stderr()


def test_unknown_user_is_an_error(terminal):
    t = terminal("no-such-user-x9")
    assert t.wait() == 1
    err = t.stderr()
    assert err.startswith("phoenix-ga-client: ") and "'no-such-user-x9'" in err, err
    assert t.restored()


def frame(kind, payload=b""):
    return kind + struct.pack(">I", len(payload)) + payload


class ScriptedPeer:
    """A peer on a unix socket that answers the login request with a success and, in the same
    write, `stream`: what the real agent does not send (a broken stream), or not so early.
    Then it answers what the client sends after the end (its ping) and records everything."""

    def __init__(self, path, stream):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.stream = stream
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def reply(tag, value):
        return json.dumps({"return": value, "tag": tag}, separators=(",", ":")).encode() + b"\n"

    def serve(self):
        c, _ = self.srv.accept()
        c.settimeout(TIMEOUT)
        with c:
            while b"\n" not in self.received:
                self.received += c.recv(65536)
            request = json.loads(self.received.split(b"\n", 1)[0])
            assert request["execute"] == "login"
            c.sendall(self.reply(request["tag"], {"session": 1, "pid": 1, "tty": "/dev/pts/0"}) + self.stream)
            while True:
                try:
                    chunk = c.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.received += chunk
                for line in self.received.split(b"\n")[1:-1]:
                    if b'"execute":"ping"' in line:
                        c.sendall(self.reply(json.loads(line[line.index(b"{"):])["tag"], "0.1.0"))

    def close(self):
        self.srv.close()
        self.thread.join(TIMEOUT)


@pytest.mark.parametrize("end, status", [
    ({"exitcode": 9}, 9),
    ({"signal": 15, "hung-up": True}, 128 + 15),
    ({"hung-up": True}, 255),  # hung up without a status
])
def test_frames_with_the_reply_and_the_exit_statuses(tmp_path, end, status):
    """Frames that come in the same read as the reply are the stream's; x's status is the
    exit status; the client says it read x (e) and leaves once a request after it is answered."""
    peer = ScriptedPeer(str(tmp_path / "s"), frame(b"o", b"early-output\r\n") + frame(b"x", json.dumps(end).encode()))
    t = Terminal(peer.srv.getsockname())
    try:
        assert t.wait() == status, t.stderr()
        assert b"early-output\r\n" in t.seen
        assert t.restored()
        peer.thread.join(TIMEOUT)
        after_request = peer.received.split(b"\n", 1)[1]
        assert after_request.startswith(frame(b"e") + b'{"execute":"ping"'), after_request
    finally:
        t.close()
        peer.close()


def test_a_frame_it_cannot_read_ends_the_client(tmp_path):
    peer = ScriptedPeer(str(tmp_path / "s"), frame(b"o", b"fine\r\n") + frame(b"z", b"??"))
    t = Terminal(peer.srv.getsockname())
    try:
        assert t.wait() == 255
        assert "cannot read (type 0x7a, 2 bytes)" in t.stderr()
        assert t.restored()
    finally:
        t.close()
        peer.close()


@pytest.mark.parametrize("args, message", [
    (["--term", "bad term"], "login: --term 'bad term' is not a terminal name"),
    (["--term", "x" * 65], "login: --term '%s' is not a terminal name" % ("x" * 65)),
    (["--term"], "login: --term needs a value"),
    (["--tern", "vt100"], "login: unknown option '--tern'"),
    (["root", "other"], "login: one argument too many: 'other'"),
])
def test_wrong_arguments_are_named_before_connecting(args, message, tmp_path):
    out = subprocess.run([CLIENT, "-s", str(tmp_path / "no-agent.sock"), "login", *args],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 2, out
    assert out.stderr.startswith("phoenix-ga-client: " + message), out.stderr


def test_completion_offers_the_option_and_terminal_names():
    env = dict(os.environ, TERM="xterm")
    env.pop("PHOENIX_GA_SOCKET", None)
    assert "login" in complete(["lo"], env)
    assert complete(["login", "--t"], env) == ["--term"]
    assert complete(["login", "--term", "vt1"], env) == ["vt100"]
    assert complete(["login", "r"], env) == []  # guest users are not the host's
