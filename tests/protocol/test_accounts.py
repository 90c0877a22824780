"""Passwords and SSH keys of guest users, side by side with Debian's qemu-ga 7.2.

Each agent runs in a private mount namespace over a copy of /etc holding a test user (the
host's users never change), and the user's home is a real directory the user owns, where the
tests also plant what a hostile user would: symlinks to root's files, a FIFO."""
import base64
import crypt
import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tempfile

import pytest

from conftest import TIMEOUT, Agent, wait_listening
from etcworld import ETC_FOR_USERS, append, copy_etc, with_etc
from qgalib import QEMU_GA

UID = 4242
KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq1 alice@one"
KEY2 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC2 alice@two"


class World:
    """A copy of /etc with user alice, alice's home, and a root-owned victim file."""

    def __init__(self, base):
        self.base = base
        self.etc = copy_etc(base, ETC_FOR_USERS)
        self.home = base / "home" / "alice"
        self.home.mkdir(parents=True)
        os.chown(self.home, UID, UID)
        append(self.etc / "passwd", "alice:x:%d:%d::%s:/bin/sh" % (UID, UID, self.home))
        append(self.etc / "group", "alice:x:%d:" % UID)
        append(self.etc / "shadow", "alice:!:19000:0:99999:7:::")
        self.victim = base / "victim"
        self.victim.write_text("root's secret\n")
        os.chmod(self.victim, 0o600)

    def wrap(self):
        """Runs a command with this /etc in a private mount namespace."""
        return with_etc(self.etc)

    def shadow_entry(self):
        for line in (self.etc / "shadow").read_text().splitlines():
            if line.startswith("alice:"):
                return line.split(":")[1]
        raise AssertionError("alice not in shadow")


@pytest.fixture
def world():
    # not under pytest's tmp_path: its parents are 0700 root, and alice must reach her home
    base = tempfile.mkdtemp(prefix="phx-accounts-", dir="/tmp")
    os.chmod(base, 0o755)
    w = World(pathlib.Path(base))
    yield w
    shutil.rmtree(base, ignore_errors=True)


class Qga:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")

    def call(self, execute, arguments):
        self.f.write(json.dumps({"execute": execute, "arguments": arguments, "id": 1}).encode() + b"\n")
        self.f.flush()
        return json.loads(self.f.readline())

    def close(self):
        self.f.close()
        self.sock.close()


@pytest.fixture
def ours(world, tmp_path):
    d = tmp_path / "ours"
    d.mkdir()
    a = Agent(d, wrap=world.wrap())
    c = Qga(a.sock_path)
    yield c
    c.close()
    assert a.stop() in (0, -15)


@pytest.fixture
def theirs_factory(tmp_path):
    procs = []

    def start(world):
        d = tmp_path / ("qga%d" % len(procs))
        (d / "state").mkdir(parents=True)
        sock = str(d / "qga.sock")
        log = open(d / "log", "wb")
        p = subprocess.Popen(world.wrap() + [QEMU_GA, "-m", "unix-listen", "-p", sock, "-t", str(d / "state"),
                                             "-f", str(d / "pid")], stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        wait_listening(sock, p, d / "log")
        return Qga(sock)
    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def keys_file(world):
    return world.home / ".ssh" / "authorized_keys"


def test_keys_add_get_remove_as_qemu_ga(world, ours, theirs_factory):
    theirs = theirs_factory(world)
    steps = [
        ("guest-ssh-get-authorized-keys", {"username": "alice"}),
        ("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1]}),
        ("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1, KEY2]}),
        ("guest-ssh-get-authorized-keys", {"username": "alice"}),
        ("guest-ssh-remove-authorized-keys", {"username": "alice", "keys": [KEY1, "ssh-rsa AAAA missing"]}),
        ("guest-ssh-get-authorized-keys", {"username": "alice"}),
        ("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1], "reset": True}),
        ("guest-ssh-get-authorized-keys", {"username": "alice"}),
    ]
    got = []
    for execute, args in steps:
        got.append(ours.call(execute, args))
    # qemu-ga on a fresh home (the same steps from the same start)
    shutil.rmtree(world.home / ".ssh")
    want = [theirs.call(execute, args) for execute, args in steps]
    # deliberately different: a user without a keys file has no keys (qemu-ga: an error)
    assert got[0] == {"return": {"keys": []}, "id": 1}
    assert want[0]["error"]["class"] == "GenericError" and "No such file" in want[0]["error"]["desc"]
    # qemu-ga puts added keys before the file's; phoenix-ga keeps the file's order and appends
    assert got[1:3] == want[1:3] and got[4:] == want[4:]
    assert sorted(got[3]["return"]["keys"]) == sorted(want[3]["return"]["keys"])
    assert got[3]["return"] == {"keys": [KEY1, KEY2]} and got[7]["return"] == {"keys": [KEY1]}
    theirs.close()


def test_keys_file_belongs_to_the_user_with_sshd_modes(world, ours):
    assert "return" in ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1]})
    d, f = os.lstat(world.home / ".ssh"), os.lstat(keys_file(world))
    assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (UID, UID, 0o700)
    assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode), stat.S_ISREG(f.st_mode)) == (UID, UID, 0o600, True)
    # comments and the user's own lines survive an add
    keys_file(world).write_text("# my laptop\n%s\n" % KEY1)
    ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY2]})
    assert keys_file(world).read_text() == "# my laptop\n%s\n%s\n" % (KEY1, KEY2)


@pytest.mark.parametrize("plant", ["ssh-dir-symlink", "keys-symlink", "fifo"])
def test_a_planted_path_gives_the_user_nothing_of_roots(world, ours, plant):
    """alice controls her home: whatever she plants there, the agent acts with her rights."""
    ssh = world.home / ".ssh"
    victim_before = world.victim.read_bytes()
    if plant == "ssh-dir-symlink":
        os.symlink(world.base, ssh)  # a root-owned directory
        os.lchown(ssh, UID, UID)
    else:
        ssh.mkdir()
        os.chown(ssh, UID, UID)
        if plant == "keys-symlink":
            os.symlink(world.victim, ssh / "authorized_keys")
            os.lchown(ssh / "authorized_keys", UID, UID)
        else:
            os.mkfifo(ssh / "authorized_keys")
            os.chown(ssh / "authorized_keys", UID, UID)
    r = ours.call("guest-ssh-get-authorized-keys", {"username": "alice"})
    assert "error" in r or r["return"] == {"keys": []}, r  # never the victim's contents
    assert "secret" not in json.dumps(r)
    r = ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1]})
    assert world.victim.read_bytes() == victim_before
    assert stat.S_IMODE(os.stat(world.victim).st_mode) == 0o600 and os.stat(world.victim).st_uid == 0
    assert not (world.base / "authorized_keys").exists()
    # refused, with what is wrong; nothing written through the planted path
    assert r["error"]["class"] == "GenericError"
    assert "not a directory of its own" in r["error"]["desc"] or "not a regular file" in r["error"]["desc"] or \
        "Operation not permitted" in r["error"]["desc"]
    # reset does not read the old file: alice's own file replaces the planted one
    if plant != "ssh-dir-symlink":
        r = ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1], "reset": True})
        assert "return" in r and keys_file(world).read_text() == KEY1 + "\n"
        assert os.lstat(keys_file(world)).st_uid == UID and world.victim.read_bytes() == victim_before


@pytest.mark.parametrize("arguments", [
    {"username": "nobody-here", "keys": [KEY1]},
    {"username": "alice", "keys": ["ssh-rsa AAA\nssh-rsa BBB"]},
    {"username": "alice", "keys": [3]},
    {"username": "alice"},
])
def test_key_errors_as_qemu_ga(world, ours, theirs_factory, arguments):
    theirs = theirs_factory(world)
    a = ours.call("guest-ssh-add-authorized-keys", arguments)
    b = theirs.call("guest-ssh-add-authorized-keys", arguments)
    theirs.close()
    assert "error" in a and "error" in b, (a, b)
    assert a["error"]["class"] == b["error"]["class"]
    assert not keys_file(world).exists()


def test_a_comment_is_not_a_key_and_blanks_are_skipped(world, ours):
    """qemu-ga 7.2 writes a comment "key" and answers success; virsh set-user-sshkeys sends the
    empty text after its file's last newline as a key: skipped, not refused."""
    r = ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": ["# a comment"]})
    assert r["error"]["desc"].startswith("invalid OpenSSH public key")
    assert not keys_file(world).exists()
    r = ours.call("guest-ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1, "", "   "]})
    assert "return" in r and keys_file(world).read_text() == KEY1 + "\n"


def test_set_password_plain_and_crypted(world, ours):
    r = ours.call("guest-set-user-password",
                  {"username": "alice", "password": base64.b64encode(b"s3cret pass").decode(), "crypted": False})
    assert r == {"return": {}, "id": 1}
    h = world.shadow_entry()
    assert h.startswith("$") and crypt.crypt("s3cret pass", h) == h
    hashed = crypt.crypt("other", crypt.mksalt(crypt.METHOD_SHA512))
    r = ours.call("guest-set-user-password",
                  {"username": "alice", "password": base64.b64encode(hashed.encode()).decode(), "crypted": True})
    assert r == {"return": {}, "id": 1} and world.shadow_entry() == hashed


@pytest.mark.parametrize("username, password", [
    ("alice", b"pw\nroot:owned"),
    ("root:x", b"pw"),
    ("alice\nroot", b"pw"),
    ("alice", b"pw\0x"),
    ("no-such-user", b"pw"),
])
def test_password_injection_is_refused(world, ours, theirs_factory, username, password):
    before = (world.etc / "shadow").read_text()
    r = ours.call("guest-set-user-password",
                  {"username": username, "password": base64.b64encode(password).decode(), "crypted": False})
    assert r["error"]["class"] == "GenericError"
    assert (world.etc / "shadow").read_text() == before


def test_password_never_reaches_the_log(world, tmp_path):
    d = tmp_path / "logged"
    d.mkdir()
    a = Agent(d, wrap=world.wrap())
    c = Qga(a.sock_path)
    try:
        c.call("guest-set-user-password",
               {"username": "alice", "password": base64.b64encode(b"PW-SECRET-1").decode(), "crypted": False})
        c.call("guest-set-user-password",
               {"username": "alice", "password": base64.b64encode(b"PW-SECRET-2\nx").decode(), "crypted": False})
    finally:
        c.close()
        a.stop()
    log = a.log_path.read_text(errors="replace")
    assert "PW-SECRET" not in log and base64.b64encode(b"PW-SECRET").decode()[:8] not in log


def test_phoenix_names(world, tmp_path):
    """The same commands under their Phoenix names (true for success; the keys as an object)."""
    d = tmp_path / "phoenix"
    d.mkdir()
    a = Agent(d, wrap=world.wrap())
    try:
        h = a.connect()
        assert h.ok("ssh-add-authorized-keys", {"username": "alice", "keys": [KEY1, KEY2]}) is True
        assert h.ok("ssh-remove-authorized-keys", {"username": "alice", "keys": [KEY1]}) is True
        assert h.ok("ssh-get-authorized-keys", {"username": "alice"}) == {"keys": [KEY2]}
        assert h.ok("set-user-password", {"username": "alice", "password": base64.b64encode(b"pw1").decode(),
                                          "crypted": False}) is True
        assert crypt.crypt("pw1", world.shadow_entry()) == world.shadow_entry()
    finally:
        assert a.stop() in (0, -15)
