"""Several channels in one agent (issue 14, item 2): -p more than once (METHOD:PATH, or a path
for -m's method) or the `channels` configuration key. One dispatcher behind them all: one
handle table, one freeze state; each reply goes back on the channel and connection its
request came from."""
import base64
import subprocess
import threading

import pytest

from conftest import AGENT, TIMEOUT, Agent, Client, wait_listening, wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def two(tmp_path):
    second = str(tmp_path / "second.sock")
    a = Agent(tmp_path, args=["-p", "unix-listen:" + second])
    wait_listening(second, a.proc, a.log_path)
    a.second = second
    yield a
    assert a.stop() in (0, -15)


def test_both_channels_serve_both_dialects(two):
    for path in (two.sock_path, two.second):
        c = Client(path)
        c.send_raw(b'{"execute":"ping","tag":"p"}\n{"execute":"guest-ping","id":7}\n')
        assert c.read_reply() == {"return": "0.1.0", "tag": "p"}
        assert c.read_reply() == {"return": {}, "id": 7}
        c.close()


def test_replies_go_back_where_requests_came_from(two):
    clients = [Client(two.sock_path), Client(two.second), Client(two.sock_path), Client(two.second)]
    got = {}

    def run(i):
        c = clients[i]
        c.send_raw(b"".join(b'{"execute":"ping","tag":"k%d-%d"}\n' % (i, n) for n in range(3000)))
        got[i] = [c.read_reply()["tag"] for _ in range(3000)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    for i, c in enumerate(clients):
        assert got[i] == ["k%d-%d" % (i, n) for n in range(3000)]
        assert c.no_reply(0.2)
        c.close()


def test_one_handle_table_across_channels(two, tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"across channels")
    a, b = Client(two.sock_path), Client(two.second)
    h = a.ok("file-open", {"path": str(path)})
    got = b.ok("file-read", {"handle_id": h, "count": 6})
    assert base64.b64decode(got["bufb64"]) == b"across"
    b.ok("file-close", {"handle_id": h})
    assert a.err("file-read", {"handle_id": h})[0] == 9
    a.close()
    b.close()


def test_bare_second_path_takes_the_method(tmp_path):
    second = str(tmp_path / "bare.sock")
    a = Agent(tmp_path, args=["-p", second])
    try:
        wait_listening(second, a.proc, a.log_path)
        c = Client(second)
        assert c.ok("ping") == "0.1.0"
        c.close()
    finally:
        assert a.stop() in (0, -15)


def test_channels_key_in_the_configuration(tmp_path):
    extra = tmp_path / "from-config.sock"
    conf = tmp_path / "phoenix-ga.conf"
    conf.write_text("[general]\nchannels = unix-listen:%s\n" % extra)
    conf.chmod(0o600)
    a = Agent(tmp_path, args=["--config", str(conf)])
    try:
        wait_listening(str(extra), a.proc, a.log_path)
        c = Client(str(extra))
        assert c.ok("ping") == "0.1.0"
        c.close()
    finally:
        assert a.stop() in (0, -15)


@pytest.mark.parametrize("spec", ["nonsense:/x", "unix-listen:"])
def test_bad_channel_is_refused_at_start(tmp_path, spec):
    conf = tmp_path / "bad.conf"
    conf.write_text("[general]\nchannels = %s\n" % spec)
    conf.chmod(0o600)
    r = subprocess.run([AGENT, "--config", str(conf), "-m", "unix-listen", "-p", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and "is not METHOD:PATH" in r.stderr, r.stderr


from test_dbus import get, private_bus, wait_for_name  # noqa: E402,F401 (the fixture too)


def test_dbus_lists_the_channels_and_their_hosts(private_bus, tmp_path):
    address, _ = private_bus
    second = str(tmp_path / "second.sock")
    a = Agent(tmp_path, args=["-p", "unix-listen:" + second], bus=address)
    try:
        wait_listening(second, a.proc, a.log_path)
        wait_for_name(address)

        def channels():
            return get(address, "Channels")

        # busctl prints a(ssb) as: COUNT "method" "path" bool ...
        wait_until(lambda: channels() == ("a(ssb)", '2 "unix-listen" "%s" false "unix-listen" "%s" false'
                                          % (a.sock_path, second)), "Channels: %r" % (channels(),))
        c = Client(second)
        assert c.ok("ping") == "0.1.0"
        wait_until(lambda: channels()[1].endswith('"%s" true' % second), "Channels: %r" % (channels(),))
        assert get(address, "HostConnected") == ("b", "true")
        c.close()
        wait_until(lambda: channels()[1].endswith('"%s" false' % second), "Channels: %r" % (channels(),))
    finally:
        assert a.stop() in (0, -15)
