"""qemu-ga's replies come in the order of the requests on a connection, as qemu-ga gives them
(libvirt takes "the next reply" as the answer; a guest-sync sent last answers last), though
commands here run side by side."""
import json
import os
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
    # no `id`: a client can only match these by their order. The users differ so that each
    # reply says which request it answers (root has keys or not; "nobody-N" does not exist).
    for i in range(n):
        if i % 2 == 0:
            msgs.append({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": "nobody-%d" % i}})
        else:
            msgs.append({"execute": "guest-sync", "arguments": {"id": i}} if i == n - 1 else {"execute": "guest-ping"})
    s.sendall(b"".join(json.dumps(m).encode() for m in msgs))
    buf, got = b"", []
    while len(got) < n:
        d = s.recv(65536)
        assert d
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            got.append(json.loads(line))
    s.close()
    for i, reply in enumerate(got):
        if i == n - 1:
            assert reply == {"return": n - 1}
        elif i % 2 == 0:
            assert "'nobody-%d'" % i in reply["error"]["desc"], (i, reply)
        else:
            assert reply == {"return": {}}, (i, reply)


def test_with_ids_too_and_beside_phoenix_requests(agent, tmp_path):
    """Ids do not change the order (qemu-ga's clients may count on it); a Phoenix request on
    the same connection is answered when done, by its tag."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(agent.sock_path)
    f = s.makefile("rwb")
    f.write(json.dumps({"execute": "guest-file-open", "arguments": {"path": str(fifo)}, "id": "o"}).encode())
    f.flush()
    handle = json.loads(f.readline())["return"]
    f.write(json.dumps({"execute": "guest-file-read", "arguments": {"handle": handle}, "id": "slow"}).encode() +
            json.dumps({"execute": "guest-ping", "id": "quick"}).encode() +
            json.dumps({"execute": "ping", "tag": "phx"}).encode() + b"\n")
    f.flush()
    assert json.loads(f.readline())["tag"] == "phx"  # while the read still waits
    with open(fifo, "wb") as w:
        w.write(b"data")
    assert json.loads(f.readline())["id"] == "slow"
    assert json.loads(f.readline()) == {"return": {}, "id": "quick"}
    f.close()
    s.close()


def test_guest_sync_behind_a_waiting_request_answers_after_it(agent, tmp_path):
    """Nothing is lost: a sync pipelined behind a read that waits for data is answered after
    the read's reply, in order, as qemu-ga does."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(agent.sock_path)
    f = s.makefile("rwb")
    f.write(json.dumps({"execute": "guest-file-open", "arguments": {"path": str(fifo)}, "id": "o"}).encode())
    f.flush()
    handle = json.loads(f.readline())["return"]
    f.write(json.dumps({"execute": "guest-file-read", "arguments": {"handle": handle}}).encode() +
            json.dumps({"execute": "guest-sync", "arguments": {"id": 77}}).encode())
    f.flush()
    with open(fifo, "wb") as w:
        w.write(b"late data")
    first = json.loads(f.readline())
    assert first["return"]["count"] == 9
    assert json.loads(f.readline()) == {"return": 77}
    f.close()
    s.close()
