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

import os
import pathlib
import shutil
import socket
import struct
import tempfile
import time

import pytest

from conftest import error_text, wait_until
from etcworld import ETC_FOR_LOGINS, append, copy_etc, with_etc
from loginlib import (DEADLINE, EAGAIN, FRAME_MAX, HANGUP_GRACE_S, SESSIONS_MAX, Term,
                      check_session, frame, gone, gone_or_zombie, kill_marked, marked, proc_stat, proc_status,
                      pytestmark, terms)  # noqa: F401 (fixtures, the needs-root mark)


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


class World:
    """A copy of /etc with alice (bash, a home of her own, a second group) and bob (no shell
    named, a home that does not exist); the agent runs with it in a private mount namespace."""

    def __init__(self, base):
        self.etc = copy_etc(base, ETC_FOR_LOGINS)
        self.home = base / "home" / "alice"
        self.home.mkdir(parents=True)
        os.chown(self.home, UID, GID)
        self.missing_home = base / "home" / "bob"
        append(self.etc / "passwd", "alice:x:%d:%d::%s:/bin/bash" % (UID, GID, self.home),
               "bob:x:%d:%d::%s:" % (BOB, BOB, self.missing_home),
               # a home she may not enter (root's, 0700)
               "carol:x:%d:%d::/root:/bin/bash" % (CAROL, CAROL))
        append(self.etc / "group", "alice:x:%d:" % GID, "bob:x:%d:" % BOB, "carol:x:%d:" % CAROL,
               "logintest:x:%d:alice" % EXTRA_GID)
        append(self.etc / "shadow", "alice:*:19000:0:99999:7:::", "bob:*:19000:0:99999:7:::",
               "carol:*:19000:0:99999:7:::")

    def wrap(self):
        return with_etc(self.etc)


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
