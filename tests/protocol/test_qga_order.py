"""qemu-ga's replies come in the order of the requests on a connection (libvirt takes "the
next reply" as the answer), though commands here run side by side; a guest-sync is answered
at once and the replies still owed to older requests are dropped."""
import json
import socket

from conftest import TIMEOUT


def test_replies_in_request_order_though_some_run_in_workers(agent):
    """guest-ssh-get-authorized-keys runs in a worker, guest-ping inline: without ordering
    each ping's reply would overtake the keys reply before it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(agent.sock_path)
    n = 400
    msgs = []
    for i in range(n):
        if i % 2 == 0:
            msgs.append({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": "root"}, "id": i})
        else:
            msgs.append({"execute": "guest-ping", "id": i})
    s.sendall(b"".join(json.dumps(m).encode() for m in msgs))
    buf, ids = b"", []
    while len(ids) < n:
        d = s.recv(65536)
        assert d
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            ids.append(json.loads(line)["id"])
    s.close()
    assert ids == list(range(n))
