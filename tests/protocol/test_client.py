"""phoenix-ga-client against the real agent on a unix socket."""
import hashlib
import os
import pathlib
import signal
import stat
import subprocess
import time

import pytest

from conftest import ROOT, TIMEOUT, needs_root, wait_until
from test_network import netns  # noqa: F401  (fixture)

CLIENT = os.environ.get("PHX_CLIENT", str(pathlib.Path(os.environ.get(
    "PHX_AGENT", str(ROOT / "build" / "src" / "phoenix-ga"))).parent / "phoenix-ga-client"))


@pytest.fixture
def cli(agent):
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path)

    def run(*args, check=True, **kw):
        out = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, timeout=120, **kw)
        if check:
            assert out.returncode == 0, out.stderr
        return out
    return run


def test_ping_commands_and_raw_call(cli):
    assert cli("ping").stdout.strip() == '"0.1.0"'
    names = cli("commands").stdout.split()
    assert "file-open" in names and "get-route-list" in names
    out = cli("call", "file-stat", '{"path": "/"}').stdout
    assert '"isdir" : true' in out
    assert cli("--json", "ping").stdout.strip() == '{"return":"0.1.0","tag":"c1"}'


def test_errors_exit_non_zero_with_errno_name(cli, tmp_path):
    out = cli("stat", str(tmp_path / "none"), check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "phoenix-ga-client: lstat %s: No such file or directory (errno ENOENT)" % (
        tmp_path / "none")
    out = cli("call", "nope", check=False)
    assert out.returncode == 1 and "Unknown command: nope" in out.stderr
    out = cli("chmod", "999", "/x", check=False)
    assert out.returncode == 2 and "chmod: mode '999' is not an octal mode" in out.stderr
    out = cli("frobnicate", check=False)
    assert out.returncode == 2


def test_no_socket_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "PHOENIX_GA_SOCKET"}
    out = subprocess.run([CLIENT, "ping"], capture_output=True, text=True, env=env, timeout=10)
    assert out.returncode == 2 and "PHOENIX_GA_SOCKET" in out.stderr
    out = subprocess.run([CLIENT, "-s", "/nonexistent/sock", "ping"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "/nonexistent/sock" in out.stderr


def test_timeout_when_the_agent_does_not_answer(tmp_path):
    """A peer that accepts and stays silent: --timeout bounds the wait, default or not."""
    import socket
    path = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen([CLIENT, "-s", path, "--timeout", "1", "ping"],
                                stderr=subprocess.PIPE, text=True)
        conn, _ = srv.accept()
        _, err = proc.communicate(timeout=10)
        secs = time.monotonic() - t0
        assert proc.returncode == 1, err
        assert "timed out" in err.lower(), err
        assert 0.9 <= secs < 5, secs
        assert conn.recv(4096).startswith(b'{"execute":"ping"')  # the request did go out
        conn.close()
    finally:
        srv.close()
    bad = subprocess.run([CLIENT, "-s", path, "--timeout", "soon", "ping"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_stat_ls_cat_and_hashes(cli, tmp_path):
    f = tmp_path / "file.txt"
    f.write_bytes(b"hello client\n")
    os.chmod(f, 0o640)
    line = cli("stat", str(f)).stdout.split()
    assert line[0] == "-rw-r-----" and line[4] == "13" and line[-1] == "file.txt"
    names = [l.split()[-1] for l in cli("ls", str(tmp_path)).stdout.splitlines()]
    assert "file.txt" in names
    assert cli("cat", str(f)).stdout == "hello client\n"
    assert cli("md5", str(f)).stdout.split()[0] == hashlib.md5(b"hello client\n").hexdigest()
    assert cli("hash", "-a", "sha512", str(f)).stdout.split()[0] == hashlib.sha512(b"hello client\n").hexdigest()
    assert cli("hash", str(f)).stdout.split()[0] == hashlib.sha256(b"hello client\n").hexdigest()


@needs_root("chown to another user")
def test_mkdir_chmod_chown(cli, tmp_path):
    d = tmp_path / "a" / "b"
    cli("mkdir", "-m", "0700", str(d))
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    cli("chmod", "0751", str(d))
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o751
    cli("chown", "123:456", str(d))
    assert (os.stat(d).st_uid, os.stat(d).st_gid) == (123, 456)


def test_put_and_get_64mib(cli, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(64 * 1024 * 1024)
    src.write_bytes(data)
    guest = tmp_path / "guest.bin"
    cli("put", str(src), str(guest), "--mode", "0600", "--owner", "7:8")
    assert guest.read_bytes() == data
    st = os.stat(guest)
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (7, 8)
    back = tmp_path / "back.bin"
    cli("get", str(guest), str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not (tmp_path / "back.bin.part").exists()


def atomic_file_open(pid, directory):
    """True once the agent holds the O_TMPFILE of an atomic file-open in `directory`."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith(str(directory) + "/#"):
            return True
    return False


def test_interrupted_put_leaves_the_old_file(agent, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(96 * 1024 * 1024))
    guest_dir = tmp_path / "guest"
    guest_dir.mkdir()
    guest = guest_dir / "precious"
    guest.write_bytes(b"old contents")
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path)
    proc = subprocess.Popen([CLIENT, "put", str(src), str(guest)], env=env)
    # Mid-transfer for certain: the agent has the unnamed new file open; stop the agent so
    # the upload cannot finish before the client is killed, then let it go on.
    deadline = time.monotonic() + 20
    while not atomic_file_open(agent.proc.pid, guest_dir):
        assert proc.poll() is None and time.monotonic() < deadline, "put ended before it was seen"
        time.sleep(0.001)
    os.kill(agent.proc.pid, signal.SIGSTOP)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.kill(agent.proc.pid, signal.SIGCONT)
    assert proc.returncode == -signal.SIGKILL
    # The agent serves one host at a time: a new host answered means it has dealt with the
    # old one's departure, and only then can the old file's survival mean anything.
    assert agent.connect().ok("ping") == "0.1.0"
    assert guest.read_bytes() == b"old contents"
    assert os.listdir(guest_dir) == ["precious"]


def test_thaw_and_status_without_freezing_the_host(cli):
    # `freeze` is never run here: it would freeze the test machine (tests/vm does that).
    assert cli("freeze-status").stdout.strip() == "thawed"
    assert cli("--json", "freeze-status").stdout.strip() == '{"return":false,"tag":"c1"}'
    assert cli("thaw").stdout.strip() == "true"


def test_shutdown_agent(cli, agent):
    assert cli("shutdown-agent").stdout.strip() == "true"
    assert agent.proc.wait(10) == 0


def test_info_summary(cli):
    out = cli("info").stdout
    assert out.startswith("host:    %s (" % os.uname().nodename)
    for key in ("uptime:", "load:", "memory:", "swap:", "users:"):
        assert key in out


def test_network_subcommands_in_a_namespace(netns, tmp_path):
    from conftest import Agent
    from test_network import ip
    a = Agent(tmp_path, wrap=["ip", "netns", "exec", netns])
    env = dict(os.environ, PHOENIX_GA_SOCKET=a.sock_path)

    def run(*args):
        out = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout
    try:
        run("link", "up", "v0")
        run("addr", "add", "10.33.0.1/24", "dev", "v0")
        run("route", "add", "10.34.0.0/16", "dev", "v0", "via", "10.33.0.254")
        assert "UP" in ip(netns, "link", "show", "v0")[0]["flags"]
        table = run("ifaces")
        row = [l for l in table.splitlines() if l.split()[1:2] == ["v0"]][0]
        assert "10.33.0.1/24" in row and "up|broadcast|multicast" in row
        routes = run("routes", "-4")
        assert "10.34.0.0/16 via 10.33.0.254 dev v0 metric" in routes  # global: unsaid, as `ip route`
        assert "10.33.0.0/24 dev v0 scope link src 10.33.0.1" in routes
        run("route", "add", "10.35.0.0/16", "dev", "v0", "scope", "link")
        assert "10.35.0.0/16 dev v0 scope link metric" in run("routes", "-4")
        run("route", "del", "10.35.0.0/16", "dev", "v0", "scope", "link")
        run("route", "del", "10.34.0.0/16", "dev", "v0")
        run("addr", "del", "10.33.0.1/24", "dev", "v0")
        run("link", "down", "v0")
        assert "10.34.0.0/16" not in run("routes")
        assert "UP" not in ip(netns, "link", "show", "v0")[0]["flags"]
        out = subprocess.run([CLIENT, "addr", "add", "10.33.0.1/24", "dev", "nosuch0"], capture_output=True,
                             text=True, env=env, timeout=30)
        assert out.returncode == 1 and out.stderr.strip().endswith("(errno ENODEV)")
    finally:
        a.stop()


def test_progress_on_a_terminal_only(agent, tmp_path):
    import pty
    src = tmp_path / "p.bin"
    src.write_bytes(os.urandom(40 * 1024 * 1024))
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path)
    # piped: nothing on stderr
    out = subprocess.run([CLIENT, "put", str(src), str(tmp_path / "q1")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    # on a terminal: a progress line with percentage, rate and ETA
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLIENT, "get", str(src), str(tmp_path / "q2")], stderr=slave,
                            stdout=subprocess.DEVNULL, env=env)
    os.close(slave)
    proc.wait(60)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    text = seen.decode()
    assert "get  100.0%" in text and "MiB/s" in text and "ETA" in text
    assert (tmp_path / "q2").read_bytes() == src.read_bytes()


def test_shell_sends_raw_lines(cli):
    out = cli("shell", input='{"execute": "ping", "tag": "s1"}\n\nnot json\n'
              '{"execute": "file-stat", "arguments": {"path": "/nonexistent"}}\n')
    text = out.stdout
    assert '"return" : "0.1.0"' in text and '"tag" : "s1"' in text
    assert "# JSON parse error" in text
    assert "# lstat /nonexistent: No such file or directory" in text


def test_shell_line_editing_and_history_on_a_terminal(agent, tmp_path):
    """On a pty: a prompt, editing keys (Ctrl-A goes home), Up recalls the last line, and the
    history is written under $XDG_STATE_HOME when the shell ends (Ctrl-D)."""
    import pty
    import select
    import termios
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path, XDG_STATE_HOME=str(tmp_path / "state"),
               TERM="xterm", HOME=str(tmp_path))
    pid, master = pty.fork()
    if pid == 0:
        os.execve(CLIENT, [CLIENT, "shell"], env)
    seen = b""
    transcript = []

    def expect_after(first, then, timeout=10):
        """Waits until `then` shows up after the first `first` in what the shell printed."""
        nonlocal seen
        deadline = time.monotonic() + timeout
        while first not in seen or then not in seen[seen.index(first) + len(first):]:
            assert time.monotonic() < deadline, "no %r after %r in %r" % (then, first, seen)
            if select.select([master], [], [], 0.1)[0]:
                seen += os.read(master, 65536)

    def type_at_prompt(keys, after=b""):
        """Types `keys` once the shell reads them in raw mode. libedit prints its prompt first
        and only then leaves canonical mode (tcsetattr right before its read; between lines the
        tty is cooked). Keys that arrive in that window meet the line discipline instead: it
        echoes them (^[[A) and turns a Ctrl-D into an end-of-file mark that libedit later reads
        as a NUL, which put it in quoted-insert mode: 1 run in 3 never ended. So after the
        prompt, wait for the tty itself to say ICANON is off (on Linux the master's termios are
        the slave's)."""
        nonlocal seen
        expect_after(after, b"phoenix-ga> ")
        deadline = time.monotonic() + 10
        while termios.tcgetattr(master)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the shell never put the tty in raw mode: %r" % seen
            time.sleep(0.001)
        transcript.append(seen)
        seen = b""
        os.write(master, keys)

    # typed without its opening brace, which Ctrl-A (home) then adds
    type_at_prompt(b'"execute": "ping", "tag": "h1"}\x01{\r')
    expect_after(b"", b'"tag" : "h1"')
    type_at_prompt(b"\x1b[A\r", after=b'"tag" : "h1"')  # Up: the same line again
    expect_after(b"", b'"tag" : "h1"')
    type_at_prompt(b"\x04", after=b'"tag" : "h1"')  # Ctrl-D on an empty line ends the shell
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the shell did not end on Ctrl-D: %r" % seen)
        if select.select([master], [], [], 0.05)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                pass
    os.close(master)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    # Keys went to libedit, never to the line discipline, which would have echoed them as
    # ^A and ^[[A (libedit prints the ^D of an end-of-file itself).
    everything = b"".join(transcript) + seen
    assert b"^A" not in everything and b"^[" not in everything, everything
    history = (tmp_path / "state" / "phoenix-ga-client" / "history").read_text()
    assert '{"execute": "ping", "tag": "h1"}' in history.replace("\\040", " ")  # libedit's escaping


def test_version_option():
    out = subprocess.run([CLIENT, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "phoenix-ga-client 0.1.0\n", out


@pytest.mark.parametrize("args, message", [
    (["put", "a", "/b", "--mode", "999"], "put: --mode '999' is not an octal mode (0 to 7777, e.g. 0644)"),
    (["put", "a", "/b", "--owner", "root"], "put: 'root' is not UID:GID"),
    (["put", "a", "/b", "--mode"], "put: --mode needs a value"),
    (["put", "a", "/b", "--mod", "644"], "put: unknown option '--mod'"),
    (["put", "a", "/b", "/c"], "put: one argument too many: '/c'"),
    (["chmod", "8", "/x"], "chmod: mode '8' is not an octal mode"),
    (["mkdir", "-m", "abc", "/x"], "mkdir: -m 'abc' is not an octal mode"),
    (["chown", "1.2", "/x"], "chown: '1.2' is not UID:GID"),
    (["route", "add", "10.0.0.0/8", "dev", "x", "scope", "lnk"], "route: scope 'lnk' is not global, site, link"),
    (["route", "add", "10.0.0.0/8", "dev", "x", "gw", "1.2.3.4"], "route: unknown keyword 'gw'"),
])
def test_a_wrong_argument_is_named_before_connecting(args, message, tmp_path):
    """Checked before any connection: the socket named here does not exist, and the error is
    still about the argument (exit status 2, as for every usage error)."""
    env = dict(os.environ, PHOENIX_GA_SOCKET=str(tmp_path / "no-agent.sock"))
    out = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 2, out
    assert out.stderr.startswith("phoenix-ga-client: " + message), out.stderr


COMPLETION = ROOT / "data" / "completion" / "phoenix-ga-client"


def complete(words, env=None, cwd=None):
    """What the bash completion offers for a command line whose last word is being typed."""
    script = 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); ' \
             '_phoenix_ga_client; printf "%s\\n" "${COMPREPLY[@]}"'
    path = os.path.dirname(CLIENT) + ":" + os.environ["PATH"]
    out = subprocess.run(["bash", "-c", script, "bash", str(COMPLETION), "phoenix-ga-client", *words],
                         capture_output=True, text=True, timeout=30, cwd=cwd,
                         env=dict(env or os.environ, PATH=path))
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.split("\n") if w]


def test_completion_knows_every_subcommand_and_option():
    help_text = subprocess.run([CLIENT, "--help"], capture_output=True, text=True, timeout=30).stdout
    listed = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    subcommands = sorted(line.split()[0] for line in listed.splitlines() if line.strip())
    env = dict(os.environ)
    env.pop("PHOENIX_GA_SOCKET", None)
    assert sorted(complete([""], env)) == subcommands
    assert complete(["fr"], env) == ["freeze", "freeze-status"]
    assert "--version" in complete(["--v"], env)
    assert complete(["routes", ""], env) == ["-4", "-6"]
    assert complete(["route", "add", "10.0.0.0/8", "dev", "eth0", "scope", "l"], env) == ["link"]
    assert complete(["put", "a", "/b", "--m"], env) == ["--mode"]


def test_completion_completes_guest_paths_through_the_agent(agent, tmp_path):
    guest = tmp_path / "guest"
    (guest / "dir-one").mkdir(parents=True)
    (guest / "file-two").write_text("x")
    (guest / "other").write_text("x")
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path)
    assert complete(["cat", str(guest) + "/"], env) == sorted(
        [str(guest) + "/dir-one/", str(guest) + "/file-two", str(guest) + "/other"])
    assert complete(["ls", str(guest) + "/d"], env) == [str(guest) + "/dir-one/"]
    # the socket given on the line wins; the local file of put is completed locally
    env.pop("PHOENIX_GA_SOCKET")
    assert complete(["-s", agent.sock_path, "get", str(guest) + "/f"], env) == [str(guest) + "/file-two"]
    assert complete(["put", "gue"], env, cwd=tmp_path) == ["guest"]
    assert complete(["-s", agent.sock_path, "put", "local", str(guest) + "/o"], env) == [str(guest) + "/other"]
    # no agent behind the socket: nothing offered, nothing printed
    assert complete(["-s", str(tmp_path / "none.sock"), "cat", "/"], env) == []


def test_exec_streams_passes_stdin_and_exit_status(cli):
    out = cli("exec", "--", "sh", "-c", "cat; echo to-err >&2; exit 7", input="from stdin\n", check=False)
    assert (out.returncode, out.stdout, out.stderr) == (7, "from stdin\n", "to-err\n")
    out = cli("exec", "--env", "A=1", "--env", "PATH=/usr/bin:/bin", "--cwd", "/tmp", "sh", "-c",
              "echo $A; pwd; kill -TERM $$", check=False)
    assert (out.returncode, out.stdout) == (128 + 15, "1\n/tmp\n")
    out = cli("exec", "--user", "nobody", "--", "id", "-u")
    assert out.stdout == "65534\n"
    out = cli("exec", "--timeout", "1", "--", "sleep", "30", check=False)
    assert out.returncode == 128 + 9 and "timed out" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["exec"], "exec: no command given"),
    (["exec", "--timeout", "0", "--", "true"], "exec: --timeout '0' is not a number of seconds"),
    (["exec", "--env", "NOEQUALS", "--", "true"], "exec: --env 'NOEQUALS' is not NAME=VALUE"),
    (["exec", "--bogus", "--", "true"], "exec: unknown option '--bogus'"),
])
def test_exec_argument_errors(cli, args, message):
    out = cli(*args, check=False)
    assert out.returncode == 2 and out.stderr.startswith("phoenix-ga-client: " + message), out.stderr


def test_exec_output_arrives_while_the_command_runs_and_ctrl_c_kills_it(agent, tmp_path):
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path)
    marker = str(tmp_path / "marker")
    # the marker names the shell's own command line; the sleep is in its process group
    p = subprocess.Popen([CLIENT, "exec", "--", "sh", "-c", "echo ready; sleep 100; echo %s" % marker],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert p.stdout.readline() == "ready\n"  # streamed: the command has not ended
        wait_until(lambda: subprocess.run(["pgrep", "-f", marker]).returncode == 0, "the remote shell running")
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 128 + signal.SIGINT
        assert subprocess.run(["pgrep", "-f", marker]).returncode == 1
    finally:
        p.kill()
        p.wait()


def test_exec_ctrl_c_on_a_terminal_kills_the_remote_group(agent, tmp_path):
    """As a person does it: the client on a pty, Ctrl-C typed; the terminal's line
    discipline signals the client, which passes it on to the command's process group."""
    import pty
    import select
    env = dict(os.environ, PHOENIX_GA_SOCKET=agent.sock_path, TERM="xterm")
    marker = str(tmp_path / "pty-marker")
    pid, master = pty.fork()
    if pid == 0:
        os.execve(CLIENT, [CLIENT, "exec", "--", "sh", "-c", "echo ready; sleep 100; echo %s" % marker], env)
    try:
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"ready" not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.1)[0]:
                seen += os.read(master, 65536)
        wait_until(lambda: subprocess.run(["pgrep", "-f", marker]).returncode == 0, "the remote shell running")
        os.write(master, b"\x03")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGINT
        wait_until(lambda: subprocess.run(["pgrep", "-f", marker]).returncode == 1, "the remote group gone")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)


def test_passwd_and_ssh_keys_subcommands(tmp_path):
    """Against an agent in a private mount namespace over a copy of /etc with user alice
    (test_accounts.py's world): the host's users never change."""
    import crypt
    import shutil
    import tempfile
    from test_accounts import KEY1, KEY2, World
    base = tempfile.mkdtemp(prefix="phx-client-accounts-", dir="/tmp")
    os.chmod(base, 0o755)
    world = World(pathlib.Path(base))
    (tmp_path / "a").mkdir()
    from conftest import Agent
    a = Agent(tmp_path / "a", wrap=world.wrap())
    env = dict(os.environ, PHOENIX_GA_SOCKET=a.sock_path)

    def run(*args, input=None):
        out = subprocess.run([CLIENT, *args], capture_output=True, text=True, env=env, input=input, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout
    try:
        run("passwd", "alice", input="client secret\n")
        h = world.shadow_entry()
        assert crypt.crypt("client secret", h) == h
        keys = tmp_path / "keys"
        keys.write_text("# mine\n%s\n\n%s\n" % (KEY1, KEY2))
        run("ssh-keys", "alice", "add", str(keys))
        assert run("ssh-keys", "alice") == KEY1 + "\n" + KEY2 + "\n"
        run("ssh-keys", "alice", "remove", "-", input=KEY1 + "\n")
        assert run("ssh-keys", "alice") == KEY2 + "\n"
        run("ssh-keys", "alice", "reset", "-", input=KEY1 + "\n")
        assert run("ssh-keys", "alice") == KEY1 + "\n"
        out = subprocess.run([CLIENT, "ssh-keys", "alice", "replace", "-"], capture_output=True, text=True,
                             env=env, timeout=60)
        assert out.returncode == 2 and "'replace' is not add, remove or reset" in out.stderr
    finally:
        a.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("sub, mode", [("poweroff", "powerdown"), ("reboot", "reboot"), ("halt", "halt")])
def test_power_subcommands(tmp_path, monkeypatch, sub, mode):
    """The agent writes the mode to the test's own power directory instead of acting."""
    from conftest import Agent
    power = tmp_path / "power"
    power.mkdir()
    monkeypatch.setenv("PHX_TEST_POWER_DIR", str(power))
    (tmp_path / "a").mkdir()
    a = Agent(tmp_path / "a")
    try:
        out = subprocess.run([CLIENT, "-s", a.sock_path, sub], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert (power / "shutdown").read_text() == mode
    finally:
        a.stop()
