"""What the agent (root) creates on disk, with which mode, and which links it follows.

Guest users are played by uid 65534 (nobody): their files and links are made here and
chowned to them, as they would have made them themselves."""
import os
import socket
import stat
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import AGENT, TIMEOUT, Agent, b64

ELOOP, EEXIST, ENOTDIR = 40, 17, 20
NOBODY = 65534


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def user_link(target, link):
    """A symlink as user nobody would have planted it."""
    os.symlink(target, link)
    os.lchown(link, NOBODY, NOBODY)


def root_file(path, data=b"secret", mode=0o600):
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def write_file(host, path, data, **args):
    h = host.ok("file-open", dict({"path": str(path), "mode": "w"}, **args))
    host.ok("file-write", {"handle_id": h, "bufb64": b64(data), "eof": True})


# ---- modes are applied exactly, whatever the umask ----

@pytest.fixture
def strict_host(tmp_path):
    """An agent started with umask 077: a mode left to the umask shows at once."""
    agent = Agent(tmp_path, wrap=("sh", "-c", 'umask 077 && exec "$@"', "sh"))
    try:
        yield agent.connect()
    finally:
        assert agent.stop() in (0, -15)


@pytest.mark.parametrize("perm", [0o666, 0o640, 0o600, 0o4755, 0o1777])
def test_new_file_gets_exactly_perm(strict_host, tmp_path, perm):
    host = strict_host
    write_file(host, tmp_path / "f", b"x", perm=perm)
    assert mode_of(tmp_path / "f") == perm
    write_file(host, tmp_path / "a", b"x", perm=perm, atomic=True)
    assert mode_of(tmp_path / "a") == perm


def test_new_file_without_perm_is_0644_and_existing_keeps_its_mode(strict_host, tmp_path):
    host = strict_host
    write_file(host, tmp_path / "f", b"x")
    assert mode_of(tmp_path / "f") == 0o644
    write_file(host, tmp_path / "a", b"x", atomic=True)
    assert mode_of(tmp_path / "a") == 0o644
    root_file(tmp_path / "old", mode=0o604)
    write_file(host, tmp_path / "old", b"new", perm=0o666)  # truncating does not chmod
    assert mode_of(tmp_path / "old") == 0o604 and (tmp_path / "old").read_bytes() == b"new"


def test_created_directories_parents_included_get_exactly_perm(strict_host, tmp_path):
    host = strict_host
    (tmp_path / "have").mkdir(mode=0o700)
    deep = tmp_path / "have" / "a" / "b"
    assert host.ok("directory-create", {"path": str(deep), "perm": 0o777}) is True
    assert mode_of(deep) == 0o777 and mode_of(deep.parent) == 0o777
    assert mode_of(tmp_path / "have") == 0o700  # existing ones are left alone
    assert host.ok("directory-create", {"path": str(tmp_path / "s"), "perm": 0o1770}) is True
    assert mode_of(tmp_path / "s") == 0o1770
    (tmp_path / "file").write_bytes(b"")
    assert host.err("directory-create", {"path": str(tmp_path / "file")})[0] == EEXIST
    assert host.err("directory-create", {"path": str(tmp_path / "file" / "x")})[0] == ENOTDIR


def test_setgid_parent_is_inherited_by_created_directories(strict_host, tmp_path):
    host = strict_host
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 0, 100)
    os.chmod(shared, 0o2775)
    assert host.ok("directory-create", {"path": str(shared / "x" / "y"), "perm": 0o750}) is True
    assert mode_of(shared / "x") == 0o2750 and mode_of(shared / "x" / "y") == 0o2750
    assert os.stat(shared / "x" / "y").st_gid == 100


# ---- the unix-listen socket ----

@pytest.fixture
def open_dir():
    """A directory user nobody may enter (pytest's own tmp dirs are root-only)."""
    with tempfile.TemporaryDirectory(prefix="phx-priv-", dir="/tmp") as d:
        os.chmod(d, 0o711)
        yield d


def start_agent(sock, *args):
    proc = subprocess.Popen([AGENT, "-m", "unix-listen", "-p", sock, "--no-config", "--no-dbus",
                             "--runtime-dir", os.path.dirname(sock) + "/run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc


def wait_for_path(proc, sock):
    """Readiness: as soon as the path exists it must accept (that is the contract)."""
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(sock):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "socket never appeared"
        time.sleep(0.001)


def stop_agent(proc):
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


def connect_as_nobody(sock):
    code = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1])\n" \
           "except OSError as e:\n print(e.errno); sys.exit(1)\nprint('connected')\n"
    return subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                           "/usr/bin/python3", "-c", code, sock],
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("args,mode,nobody_may", [
    ((), 0o600, False),
    (("--socket-mode", "0660"), 0o660, False),
    (("--socket-mode", "666"), 0o666, True),
])
def test_socket_mode_and_who_may_connect(open_dir, args, mode, nobody_may):
    sock = os.path.join(open_dir, "agent.sock")
    proc = start_agent(sock, *args)
    try:
        wait_for_path(proc, sock)
        assert stat.S_ISSOCK(os.lstat(sock).st_mode) and mode_of(sock) == mode
        out = connect_as_nobody(sock)
        if nobody_may:
            assert out.returncode == 0 and "connected" in out.stdout, out
        else:
            assert out.returncode == 1 and out.stdout.strip() == "13", out  # EACCES
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.close()
        # only the socket: no temporary name left behind
        assert [n for n in os.listdir(open_dir) if n != "run"] == ["agent.sock"]
    finally:
        stop_agent(proc)


def test_socket_accepts_as_soon_as_it_exists_and_replaces_a_stale_one(open_dir):
    sock = os.path.join(open_dir, "agent.sock")
    for round in range(5):
        if round == 2:  # a stale socket of an earlier run, nobody listening
            if os.path.exists(sock):
                os.unlink(sock)
            stale = socket.socket(socket.AF_UNIX)
            stale.bind(sock)
            stale.close()
            # read before the agent starts: a fast agent may replace it at once
            ino = os.lstat(sock).st_ino
        proc = start_agent(sock)
        try:
            if round == 2:
                # the stale one stays until the new one replaces it: wait for a new inode
                deadline = time.monotonic() + TIMEOUT
                while os.path.exists(sock) and os.lstat(sock).st_ino == ino:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.001)
            else:
                wait_for_path(proc, sock)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(TIMEOUT)
            s.connect(sock)  # ECONNREFUSED here would mean the path came before listen()
            s.sendall(b'{"execute":"ping"}\n')
            assert b'"return"' in s.recv(4096)
            s.close()
        finally:
            stop_agent(proc)


def test_bad_socket_mode_is_a_usage_error(tmp_path):
    out = subprocess.run([AGENT, "--no-config", "--socket-mode", "0999"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2 and "--socket-mode: '0999' is not an octal mode" in out.stderr
    out = subprocess.run([AGENT, "--no-config", "--socket-mode", "4755"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2 and "not an octal mode from 0 to 0777" in out.stderr


# ---- links a guest user planted ----

def test_chown_and_chmod_never_touch_what_a_users_link_points_to(host, tmp_path):
    shadow = root_file(tmp_path / "shadow")
    user_link(str(shadow), tmp_path / "upload")
    # chown acts on the link itself
    assert host.ok("file-chown", {"path": str(tmp_path / "upload"), "uid": 1000, "gid": 1000}) is True
    st = os.lstat(tmp_path / "upload")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    st = os.stat(shadow)
    assert (st.st_uid, st.st_gid, mode_of(shadow)) == (0, 0, 0o600)
    # a link has no mode: chmod is refused
    code, msg = host.err("file-chmod", {"path": str(tmp_path / "upload"), "perm": 0o666})
    assert code == ELOOP and "symbolic link" in msg, msg
    assert mode_of(shadow) == 0o600
    # a root-owned link is treated the same at the last component
    os.symlink(str(shadow), tmp_path / "rootlink")
    assert host.err("file-chmod", {"path": str(tmp_path / "rootlink"), "perm": 0o666})[0] == ELOOP
    assert mode_of(shadow) == 0o600


def test_a_users_link_in_the_middle_of_a_path_is_not_followed(host, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    secret = root_file(etc / "passwd", mode=0o644)
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    user_link("../etc", home / "dir")  # the user replaced their dir with a link to /etc
    via = home / "dir" / "passwd"
    for cmd, args in [("file-chown", {"uid": NOBODY}), ("file-chmod", {"perm": 0o666})]:
        code, msg = host.err(cmd, dict({"path": str(via)}, **args))
        assert code == ELOOP and "'dir' is owned by uid 65534" in msg, msg
    assert os.stat(secret).st_uid == 0 and mode_of(secret) == 0o644
    code, _ = host.err("directory-create", {"path": str(home / "dir" / "cron.d")})
    assert code == ELOOP and not (etc / "cron.d").exists()
    code, _ = host.err("file-open", {"path": str(via), "mode": "w"})
    assert code == ELOOP and secret.read_bytes() == b"secret"
    # reading changes nothing: links are followed as before
    assert host.ok("file-open", {"path": str(via), "mode": "r"}) > 0


def test_root_owned_links_are_followed(host, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink("real", tmp_path / "alias")
    (real / "f").write_bytes(b"")
    assert host.ok("file-chmod", {"path": str(tmp_path / "alias" / "f"), "perm": 0o640}) is True
    assert mode_of(real / "f") == 0o640
    assert host.ok("directory-create", {"path": str(tmp_path / "alias" / "d" / "e"), "perm": 0o750})
    assert mode_of(real / "d" / "e") == 0o750
    os.symlink(str(real / "new"), tmp_path / "dangling")
    write_file(host, tmp_path / "dangling", b"through", perm=0o600)
    assert (real / "new").read_bytes() == b"through" and mode_of(real / "new") == 0o600


def test_file_open_never_creates_or_truncates_through_a_users_link(host, tmp_path):
    user_link(str(tmp_path / "etc-whatever"), tmp_path / "dangling")
    code, msg = host.err("file-open", {"path": str(tmp_path / "dangling"), "mode": "w"})
    assert code == ELOOP and "owned by uid 65534" in msg, msg
    assert not (tmp_path / "etc-whatever").exists()
    shadow = root_file(tmp_path / "shadow")
    user_link(str(shadow), tmp_path / "upload")
    for atomic in (False, True):
        code, _ = host.err("file-open", {"path": str(tmp_path / "upload"), "mode": "w", "atomic": atomic})
        assert code == ELOOP
    assert shadow.read_bytes() == b"secret" and os.path.islink(tmp_path / "upload")
    assert sorted(os.listdir(tmp_path)) == ["agent.log", "agent.sock", "dangling", "shadow", "upload"]


def acl_with_user(uid, perm):
    """system.posix_acl_access as the kernel stores it (version 2; tag, perm, id entries)."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, perm, uid), (0x04, 4, undefined), (0x10, 6, undefined),
               (0x20, 0, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_atomic_replace_keeps_owner_group_mode_and_xattrs(host, tmp_path):
    path = root_file(tmp_path / "config", b"old", mode=0o640)
    os.chown(path, 0, 42)
    os.setxattr(path, "user.origin", b"package")
    acl = acl_with_user(1000, 6)
    os.setxattr(path, "system.posix_acl_access", acl)
    before = mode_of(path)
    write_file(host, path, b"new", atomic=True)
    st = os.stat(path)
    assert path.read_bytes() == b"new"
    assert (st.st_uid, st.st_gid, mode_of(path)) == (0, 42, before)
    assert os.getxattr(path, "user.origin") == b"package"
    assert os.getxattr(path, "system.posix_acl_access") == acl
    # perm, when given, wins for the mode only
    write_file(host, path, b"newer", atomic=True, perm=0o600)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, mode_of(path)) == (0, 42, 0o600)
    assert os.getxattr(path, "user.origin") == b"package"
    # a user's file stays the user's
    mine = root_file(tmp_path / "mine", b"u", mode=0o664)
    os.chown(mine, NOBODY, NOBODY)
    write_file(host, mine, b"v", atomic=True)
    st = os.stat(mine)
    assert (st.st_uid, st.st_gid, mode_of(mine)) == (NOBODY, NOBODY, 0o664)


def test_atomic_replace_through_a_root_link_replaces_its_target(host, tmp_path):
    real = root_file(tmp_path / "real.conf", b"old", mode=0o640)
    os.symlink("real.conf", tmp_path / "link.conf")
    write_file(host, tmp_path / "link.conf", b"new", atomic=True)
    assert os.readlink(tmp_path / "link.conf") == "real.conf"
    assert real.read_bytes() == b"new" and mode_of(real) == 0o640
    assert host.err("file-open", {"path": str(tmp_path), "mode": "w", "atomic": True})[0] == 21  # EISDIR


def test_refused_and_failed_walks_leave_no_descriptor_open(agent, tmp_path):
    host = agent.connect()
    fds = "/proc/%d/fd" % agent.proc.pid
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"")
    user_link(str(tmp_path / "d"), tmp_path / "ul")
    os.symlink(str(tmp_path / "d"), tmp_path / "rl")
    host.ok("ping")
    before = len(os.listdir(fds))
    for _ in range(20):
        for path in ("d/f", "rl/f", "ul/f", "none/f", "d/f/x", "ul"):
            p = str(tmp_path / path)
            host.request("file-chown", {"path": p, "uid": -1, "gid": -1})
            host.request("file-chmod", {"path": p, "perm": 0o644})
            host.request("directory-create", {"path": p + "-dir"})
            reply = host.request("file-open", {"path": p, "mode": "w", "atomic": True})
            if "return" in reply:
                host.ok("file-close", {"handle_id": reply["return"]})
    assert len(os.listdir(fds)) == before
