"""guest-shutdown in a real guest, each in a guest of its own (it ends): the disks are synced
first, nothing is answered on success, and the machine goes down — here through busybox's
poweroff/reboot and the test guest's init (tests/vm/guest-init.sh answers them as busybox's
init would). QEMU runs with -no-reboot, so a reboot also ends it."""
import subprocess
import tempfile
import pathlib

import pytest

from conftest import Guest


@pytest.fixture
def own_guest():
    g = Guest(pathlib.Path(tempfile.mkdtemp(prefix="phx-vm-shutdown-")))
    yield g
    g.stop()


def data_file(image, name):
    """A file of the data disk, read from its image on the host once QEMU has ended."""
    out = subprocess.run(["debugfs", "-R", "cat /%s" % name, image], capture_output=True, text=True)
    return out.stdout


@pytest.mark.parametrize("dialect, mode", [("qemu-ga", "powerdown"), ("phoenix", "reboot")])
def test_shutdown_syncs_and_ends_the_guest(own_guest, dialect, mode):
    g = own_guest
    # written, not synced: only the agent's sync can put it on the disk before the end
    assert g.sh("echo precious > /data/shutdown-proof")[0] == 0
    h = g.wait_for_agent()
    if dialect == "qemu-ga":
        msg = b'{"execute":"guest-shutdown","arguments":{"mode":"%s"}}\n' % mode.encode()
        h.sock.sendall(msg)
    else:
        h.sock.sendall(b'{"execute":"system-shutdown","arguments":{"mode":"%s"},"tag":"s"}\n' % mode.encode())
    assert g.proc.wait(120) == 0  # QEMU ends when the guest powers off (or reboots: -no-reboot)
    # qemu-ga's dialect: nothing was sent (success-response false); Phoenix: `true`, or
    # nothing when the guest went down before the reply could leave
    h.sock.settimeout(1)
    try:
        rest = h.sock.recv(65536)
    except OSError:
        rest = b""
    if dialect == "qemu-ga":
        assert rest == b"", rest
    else:
        assert rest in (b"", b'{"return":true,"tag":"s"}\n'), rest
    h.close()
    assert data_file(g.disk, "shutdown-proof") == "precious\n"
    log = (g.dir / "console.log").read_text(errors="replace")
    assert "Kernel panic" not in log, log[-2000:]
