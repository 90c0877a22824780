"""The configuration file (GKeyFile, [general]) and the command allow/block lists."""
import os
import stat
import subprocess

import pytest

from conftest import AGENT, ROOT, Agent


def run_agent(*args):
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=10)


def write_conf(tmp_path, text, name="phoenix-ga.conf", mode=0o644):
    """The agent refuses a file others may write: make the mode explicit, not the umask's."""
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_file_settings_apply_and_the_command_line_overrides(tmp_path):
    sock = tmp_path / "from-file.sock"
    conf = write_conf(tmp_path, "# the agent's settings\n[general]\nmethod = unix-listen\n"
                      "path = %s\nfreeze-timeout = 30\ndbus = false\n"
                      "block-commands = file-chmod, net-iface-down\n" % sock)
    agent = Agent(tmp_path, args=("--config", str(conf)))
    try:
        # conftest passes -p itself: the command line wins over the file's path
        assert not sock.exists()
        c = agent.connect()
        names = c.ok("get-commands")
        assert "file-chmod" not in names and "net-iface-down" not in names and "file-chown" in names
        assert c.err("file-chmod", {"path": str(tmp_path), "perm": 0o755}) == (-1, "Command file-chmod is disabled")
    finally:
        agent.stop()
    # the file's path is used when the command line gives none
    proc = subprocess.Popen([AGENT, "--config", str(conf), "--runtime-dir", str(tmp_path / "rt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # the log, until the agent says where it serves
            lines.append(line)
            if "serving on" in line:
                break
        assert "serving on %s (unix-listen)" % sock in lines[-1], lines
    finally:
        proc.terminate()
        proc.wait(10)


def test_command_line_lists_override_the_file(tmp_path):
    conf = write_conf(tmp_path, "[general]\nblock-commands = file-chmod\n")
    agent = Agent(tmp_path, args=("--config", str(conf), "--block-commands", "directory-create"))
    try:
        c = agent.connect()
        names = c.ok("get-commands")
        assert "directory-create" not in names and "file-chmod" in names
        assert c.err("directory-create", {"path": str(tmp_path / "d")}) == (-1, "Command directory-create is disabled")
        assert not (tmp_path / "d").exists()
    finally:
        agent.stop()


def test_allow_list_keeps_ping_and_get_commands(tmp_path):
    agent = Agent(tmp_path, args=("--allow-commands", "file-stat"))
    try:
        c = agent.connect()
        assert sorted(c.ok("get-commands")) == ["file-stat", "get-commands", "ping"]
        assert c.ok("ping") == "0.1.0"
        assert c.ok("file-stat", {"path": str(tmp_path)})["stat"]["Mode"] > 0
        assert c.err("sysinfo") == (-1, "Command sysinfo is disabled")
        # unknown stays unknown, not "disabled"
        assert c.err("no-such-thing") == (-1, "Unknown command: no-such-thing")
    finally:
        agent.stop()


@pytest.mark.parametrize("text,line,message", [
    ("[general]\nmethod = unix-listen\nfoo = 1\n", 3, "unknown key 'foo'"),
    ("# c\n\n[general]\ndebug = maybe\n", 4, "debug: 'maybe' is not a boolean (true or false)"),
    ("[general]\nfreeze-timeout = -5\n", 2, "freeze-timeout: '-5' is not a number of seconds (0 or more)"),
    ("[general]\nfreeze-timeout = soon\n", 2, "freeze-timeout: 'soon' is not a number of seconds"),
    ("[general]\nmethod = carrier-pigeon\n", 2, "method: unknown method 'carrier-pigeon'"),
    ("[general]\nblock-commands = ping\n", 2, "block-commands: 'ping' cannot be disabled"),
    ("[general]\nblock-commands = file-chmod, nope\n", 2, "block-commands: unknown command 'nope'"),
    ("[general]\nallow-commands = nope\n", 2, "allow-commands: unknown command 'nope'"),
    ("method = unix-listen\n", 1, "a key before the [general] group"),
    ("[general]\n[other]\n", 2, "unknown group [other]"),
    ("[general\n", 1, "a group header must end with ']'"),
    ("[general]\njust words\n", 2, "expected KEY=VALUE"),
    ("[general]\ndebug = true\ndebug = false\n", 3, "'debug' is already set on line 2"),
    ("[general]\npath =\n", 2, "path: an empty value"),
])
def test_bad_file_stops_the_agent_with_file_and_line(tmp_path, text, line, message):
    conf = write_conf(tmp_path, text)
    out = run_agent("--config", str(conf), "-m", "unix-listen", "-p", str(tmp_path / "s"))
    assert out.returncode == 1
    assert out.stderr.startswith("%s:%d: " % (conf, line)), out.stderr
    assert message in out.stderr, out.stderr
    assert not (tmp_path / "s").exists()


def test_missing_or_unreadable_file(tmp_path):
    out = run_agent("--config", str(tmp_path / "absent.conf"))
    assert out.returncode == 1 and "absent.conf" in out.stderr and "No such file" in out.stderr
    binary = write_conf(tmp_path, "[general]\n\x00\n", name="nul.conf")
    out = run_agent("--config", str(binary))
    assert out.returncode == 1 and "not UTF-8 text" in out.stderr
    out = run_agent("--config", str(binary), "--no-config")
    assert out.returncode == 2 and "exclude each other" in out.stderr


def test_unreadable_file_as_another_user(tmp_path):
    conf = write_conf(tmp_path, "[general]\n")
    conf.chmod(0o600)
    tmp_path.chmod(0o755)
    out = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                          AGENT, "--config", str(conf)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and str(conf) in out.stderr and "Permission denied" in out.stderr


def test_bad_lists_on_the_command_line_are_usage_errors(tmp_path):
    out = run_agent("--no-config", "--block-commands", "get-commands")
    assert out.returncode == 2 and "'get-commands' cannot be disabled" in out.stderr
    out = run_agent("--no-config", "--allow-commands", "ping,bogus")
    assert out.returncode == 2 and "unknown command 'bogus'" in out.stderr


def agent_accepts(tmp_path, conf):
    """Starts the agent on `conf` (port and bus overridden) and checks it serves."""
    agent = Agent(tmp_path, args=("--config", str(conf)))
    try:
        return agent.connect().ok("ping") == "0.1.0"
    finally:
        agent.stop()


def test_the_installed_example_is_valid_commented_and_uncommented(tmp_path):
    example = (ROOT / "data" / "phoenix-ga.conf").read_text()
    assert agent_accepts(tmp_path, write_conf(tmp_path, example, "as-shipped.conf"))
    # every documented key with its documented value, except the two lists (which exclude
    # each other in spirit) and the hook (whose example path does not exist here)
    lines = []
    for line in example.splitlines():
        if line.startswith("#") and "=" in line and not line.startswith("# "):
            key = line[1:].split("=")[0].strip()
            if key not in ("allow-commands", "fsfreeze-hook", "method", "path", "runtime-dir"):
                line = line[1:]
        lines.append(line)
    uncommented = "\n".join(lines) + "\n"
    assert "\nblock-commands =" in uncommented and "\nfreeze-timeout = 600" in uncommented
    assert agent_accepts(tmp_path, write_conf(tmp_path, uncommented, "uncommented.conf"))


def test_the_man_page_example_is_valid(tmp_path):
    page = (ROOT / "doc" / "man" / "phoenix-ga.conf.5.scd").read_text()
    example = page.split("```\n")[1]
    assert example.startswith("[general]\n")
    # the example's hook path does not exist on this machine; everything else is as printed
    example = example.replace("fsfreeze-hook = /etc/phoenix-ga/fsfreeze-hook", "fsfreeze-hook = /bin/true")
    assert agent_accepts(tmp_path, write_conf(tmp_path, example, "man-example.conf"))


# ---- whom the agent trusts: its file and its hook must be root's alone ----

NOBODY = 65534


def refused(*args):
    out = run_agent(*args, "-m", "unix-listen", "-p", "/nonexistent/never")
    assert out.returncode == 1, out
    return out.stderr


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_config_writable_by_others_is_refused(tmp_path, mode):
    conf = write_conf(tmp_path, "[general]\n", mode=mode)
    err = refused("--config", str(conf))
    assert err.startswith("configuration file %s: " % conf), err
    assert "writable by group or others (mode %04o)" % mode in err, err


def test_config_owned_by_another_user_is_refused(tmp_path):
    conf = write_conf(tmp_path, "[general]\n")
    os.chown(conf, NOBODY, NOBODY)
    err = refused("--config", str(conf))
    assert str(conf) in err and "owned by uid 65534" in err, err


def test_config_in_a_directory_others_may_change_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone may rename the file away and put theirs
    conf = write_conf(shared, "[general]\n")
    err = refused("--config", str(conf))
    assert "directory %s may be changed by another user" % shared in err and "mode 0777" in err, err
    shared.chmod(0o1777)  # the sticky bit protects root's file: accepted
    assert agent_accepts(tmp_path, conf)


def test_config_through_a_users_link_is_refused(tmp_path):
    conf = write_conf(tmp_path, "[general]\n")
    os.symlink(str(conf), tmp_path / "link.conf")
    assert agent_accepts(tmp_path, tmp_path / "link.conf")  # root's own link: fine
    os.lchown(tmp_path / "link.conf", NOBODY, NOBODY)
    err = refused("--config", str(tmp_path / "link.conf"))
    assert "symbolic link 'link.conf' is owned by uid 65534" in err, err


def hook(tmp_path, mode=0o755, owner=0):
    path = tmp_path / "hook"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    os.chown(path, owner, owner)
    return path


def test_fsfreeze_hook_must_be_roots_alone(tmp_path):
    err = refused("--no-config", "--fsfreeze-hook", str(hook(tmp_path, mode=0o775)))
    assert err.startswith("fsfreeze hook %s: " % (tmp_path / "hook")), err
    assert "writable by group or others (mode 0775)" in err, err
    err = refused("--no-config", "--fsfreeze-hook", str(hook(tmp_path, owner=NOBODY)))
    assert "owned by uid 65534" in err, err
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    os.chown(shared, 0, 100)
    err = refused("--no-config", "--fsfreeze-hook", str(hook(shared)))
    assert "directory %s may be changed by another user" % shared in err, err
    err = refused("--no-config", "--fsfreeze-hook", str(tmp_path / "absent"))
    assert "fsfreeze hook %s: No such file" % (tmp_path / "absent") in err, err
    # from the file as from the command line
    conf = write_conf(tmp_path, "[general]\nfsfreeze-hook = %s\n" % hook(tmp_path, mode=0o757))
    assert "writable by group or others" in refused("--config", str(conf))
    # and a proper one starts
    good = tmp_path / "good"
    good.mkdir(mode=0o755)
    agent = Agent(tmp_path, args=("--fsfreeze-hook", str(hook(good))))
    try:
        assert agent.connect().ok("ping") == "0.1.0"
    finally:
        agent.stop()


def test_socket_mode_from_the_file(tmp_path):
    conf = write_conf(tmp_path, "[general]\nsocket-mode = 0660\n")
    agent = Agent(tmp_path, args=("--config", str(conf)))
    try:
        assert stat.S_IMODE(os.lstat(agent.sock_path).st_mode) == 0o660
        agent.connect().ok("ping")
    finally:
        agent.stop()
    agent = Agent(tmp_path, args=("--config", str(conf), "--socket-mode", "0640"))
    try:
        assert stat.S_IMODE(os.lstat(agent.sock_path).st_mode) == 0o640  # the command line wins
    finally:
        agent.stop()
    conf = write_conf(tmp_path, "[general]\nsocket-mode = rw\n")
    out = run_agent("--config", str(conf))
    assert out.returncode == 1 and out.stderr.startswith("%s:2: socket-mode: 'rw' is not an octal mode" % conf)
