"""vsock-listen in the real guest (issue 14). This host has no /dev/vhost-vsock, so the host
side cannot be played; inside the guest the kernel's vsock_loopback transport lets the client
reach an agent at CID 1 (local), which is exactly the peer a root agent must refuse by default:
the guest's own users connect that way. With --vsock-any-peer the same client is served."""
import json

import pytest


def sh_ok(guest, cmd, timeout=30):
    code, out = guest.sh(cmd, timeout=timeout)
    assert code == 0, (cmd, out)
    return out


class VsockAgent:
    """A second agent in the guest, on vsock, beside the one on the virtio port."""

    def __init__(self, guest, port, *args):
        self.guest, self.port = guest, port
        self.log = "/run/vsock-%d.log" % port
        sh_ok(guest, "mkdir -p /run/vs%d" % port)
        self.pid = sh_ok(guest, "/bin/phoenix-ga -m vsock-listen -p -1:%d --no-config --no-dbus --debug "
                                "--runtime-dir /run/vs%d %s >%s 2>&1 & echo $!"
                         % (port, port, " ".join(args), self.log)).split()[-1]
        # listening once its start-up line is out (the socket is bound before it)
        for _ in range(100):
            if "serving on" in self.guest.sh("cat " + self.log)[1]:
                break
            self.guest.sh("sleep 0.1")
        else:
            raise AssertionError(self.guest.sh("cat " + self.log)[1])

    def client(self, *args):
        return self.guest.sh("/bin/phoenix-ga-client --timeout 10 -s vsock:1:%d %s" % (self.port, " ".join(args)),
                             timeout=40)


    def stop(self):
        self.guest.sh("kill %s; wait %s" % (self.pid, self.pid))


@pytest.fixture(scope="module")
def vsock(guest):
    code, out = guest.sh("grep -w vsock_loopback /proc/modules")
    assert code == 0, "vsock_loopback is not loaded in the guest: " + out


def test_local_peer_refused_by_default(guest, vsock):
    a = VsockAgent(guest, 5000)
    try:
        code, out = a.client("ping")
        assert code != 0, out
        # dropped at once: the client finds the connection gone when it writes or reads
        assert any(w in out for w in ("closed", "Broken pipe", "reset")), out
        log = guest.sh("cat " + a.log)[1]
        assert "vsock peer CID 1 dropped" in log, log
        # The agent is still there for the host.
        assert guest.sh("kill -0 " + a.pid)[0] == 0
    finally:
        a.stop()


def test_local_peer_served_with_any_peer(guest, vsock):
    a = VsockAgent(guest, 5001, "--vsock-any-peer")
    try:
        assert sh_ok(guest, "/bin/phoenix-ga-client --timeout 10 -s vsock:1:5001 ping") == '"0.1.0"'
        # Several clients at once.
        out = sh_ok(guest, "for i in 1 2 3 4; do /bin/phoenix-ga-client --timeout 10 -s vsock:1:5001 "
                           "--json ping & done; wait")
        replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert len(replies) == 4 and all(r.get("return") == "0.1.0" for r in replies), out
    finally:
        a.stop()


def test_vsock_address_errors(guest, vsock):
    code, out = guest.sh("/bin/phoenix-ga -m vsock-listen -p nonsense --no-config --no-dbus")
    assert code == 1 and "is not CID:PORT" in out, out
    code, out = guest.sh("/bin/phoenix-ga -m vsock-listen --no-config --no-dbus")
    assert code == 1 and "-p CID:PORT" in out, out
    code, out = guest.sh("/bin/phoenix-ga-client -s vsock:x:1 ping")
    assert code != 0 and "is not vsock:CID:PORT" in out, out
