"""Command line and transports other than the unix socket."""
import json
import os
import pty
import select
import subprocess
import time
import tty

from conftest import AGENT, holds_open, wait_until


def test_version():
    out = subprocess.run([AGENT, "-v"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == "phoenix-ga 0.1.0"
    out = subprocess.run([AGENT, "--version"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "phoenix-ga 0.1.0"


def test_help_lists_options():
    out = subprocess.run([AGENT, "-h"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    for opt in ("--method", "--path", "--debug", "--version"):
        assert opt in out.stdout


def test_bad_method_and_missing_device():
    out = subprocess.run([AGENT, "-m", "carrier-pigeon"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "unknown method 'carrier-pigeon'" in out.stderr
    out = subprocess.run([AGENT, "-p", "/nonexistent/port"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and "open /nonexistent/port: No such file or directory" in out.stderr


def test_unix_listen_refuses_to_replace_a_regular_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("data")
    out = subprocess.run([AGENT, "-m", "unix-listen", "-p", str(victim)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1 and "is not a socket" in out.stderr
    assert victim.read_text() == "data"


def read_json_line(fd, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
        assert r, "no reply on the pty"
        buf += os.read(fd, 65536)
    line, _ = buf.split(b"\n", 1)
    return json.loads(line)


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_isa_serial_on_a_pty_with_legacy_debug_flag():
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    tty.setraw(master)
    proc = subprocess.Popen([AGENT, "-m", "isa-serial", "-p", name, "-debug"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(slave)
    try:
        # Ready once the agent holds the port open (observed in /proc, not guessed with a sleep).
        wait_until(lambda: proc.poll() is not None or holds_open(proc.pid, name), "the agent never opened " + name)
        os.write(master, b'{"execute":"ping","tag":"tty"}\r\n')
        assert read_json_line(master) == {"return": "0.1.0", "tag": "tty"}
        # raw mode: no echo of what the host sent, no CR/LF translation of replies
        os.write(master, b'{"execute":"get-commands","tag":"g"}\n')
        assert read_json_line(master)["tag"] == "g"
        # the host hangs up: the agent must stay asleep, not spin on POLLHUP
        os.close(master)
        master = None
        time.sleep(0.3)
        before = cpu_ticks(proc.pid)
        time.sleep(2)
        assert cpu_ticks(proc.pid) - before <= 1
        assert proc.poll() is None
    finally:
        if master is not None:
            os.close(master)
        proc.terminate()
        err, _ = proc.communicate(timeout=10)
    assert b"ping [tag 'tty'] ok" in err


def test_process_keeps_its_name_and_pid_across_the_gslice_reexec(tmp_path):
    """On GLib < 2.76 the agent re-executes itself once with G_SLICE=always-malloc (main.c):
    same PID (exec), named phoenix-ga in ps and the journal, and an explicit G_SLICE wins."""
    from conftest import Agent
    agent = Agent(tmp_path)
    try:
        agent.connect().ok("ping")
        pid = agent.proc.pid
        assert open("/proc/%d/comm" % pid).read().strip() == "phoenix-ga"
        env = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
        glib = subprocess.run(["pkg-config", "--modversion", "glib-2.0"], capture_output=True, text=True)
        major, minor = (int(x) for x in glib.stdout.split(".")[:2])
        if (major, minor) < (2, 76):
            assert b"G_SLICE=always-malloc" in env
        else:
            assert not any(e.startswith(b"G_SLICE=") for e in env)
    finally:
        agent.stop()
    (tmp_path / "explicit").mkdir()
    agent = Agent(tmp_path / "explicit", wrap=("env", "G_SLICE=debug-blocks"))
    try:
        agent.connect().ok("ping")
        env = open("/proc/%d/environ" % agent.proc.pid, "rb").read().split(b"\0")
        assert b"G_SLICE=debug-blocks" in env
    finally:
        agent.stop()
