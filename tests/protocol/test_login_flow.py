"""The login terminal, continued (doc/protocol.md, "Login terminal (ext)"): EBUSY, the flow of
output and input against a slow host and a terminal that reads nothing, what the log says and
never says, the idle and stall timeouts, what a shell leaves behind, and the cases review
found (run under ASan in CI too). Helpers in loginlib.py; the same rules as test_login.py:
nothing waits by sleeping."""
import os
import pathlib
import re
import select
import socket
import time

from conftest import wait_until
from loginlib import (DEADLINE, EBUSY, Term, children, comm, frame, gone, kill_marked,  # noqa: F401
                      pytestmark, terms)  # (fixtures, the needs-root mark)


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
