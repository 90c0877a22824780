"""The agent's D-Bus interface on a private dbus-daemon started here with its own config
(which includes the shipped policy), never the machine's system bus."""
import json
import os
import pathlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import Agent, ROOT, wait_until

NAME, PATH, IFACE = "org.phoenixga.GuestAgent1", "/org/phoenixga/GuestAgent1", "org.phoenixga.GuestAgent1"
POLICY = ROOT / "data" / "org.phoenixga.GuestAgent1.conf"
PUBLISH_S = 0.25  # PHX_DBUS_PUBLISH_MS
PROPS = {"Version": "s", "Method": "s", "Path": "s", "HostConnected": "b", "Frozen": "b",
         "FrozenSince": "t", "OpenHandles": "u", "CommandsServed": "t", "CommandsFailed": "t",
         "LastCommand": "s", "StartedAt": "t"}


@pytest.fixture
def private_bus():
    # A directory others can enter: the non-root caller must reach the socket.
    d = pathlib.Path(tempfile.mkdtemp(prefix="phx-bus-"))
    d.chmod(0o755)
    conf = d / "bus.conf"
    conf.write_text("""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s/bus</listen>
  <auth>EXTERNAL</auth>
  <!-- the default rules of Debian's system bus -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
  <!-- for the tests' own `busctl monitor` -->
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>%s</include>
</busconfig>
""" % (d, POLICY))
    proc = subprocess.Popen(["dbus-daemon", "--config-file", str(conf), "--nofork", "--nopidfile",
                             "--print-address"], stdout=subprocess.PIPE, text=True)
    try:
        # printed once the bus listens: readiness without polling
        address = proc.stdout.readline().strip()
        assert address.startswith("unix:"), address
        (d / "bus").chmod(0o777)
        yield address, proc
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def busctl(address, *args, user=None, check=True):
    cmd = ["busctl", "--address=" + address, *args]
    if user:
        cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=check)


def wait_for_name(address, timeout=10):
    deadline = time.monotonic() + timeout
    while busctl(address, "status", NAME, check=False).returncode != 0:
        assert time.monotonic() < deadline, "agent never owned its name"
        time.sleep(0.05)


def get(address, prop, user=None):
    out = busctl(address, "get-property", NAME, PATH, IFACE, prop, user=user).stdout.split(None, 1)
    return out[0], out[1].strip() if len(out) > 1 else ""


@pytest.fixture
def bus_agent(private_bus, tmp_path):
    address, _ = private_bus
    a = Agent(tmp_path, bus=address)
    try:
        wait_for_name(address)
        yield address, a
    finally:
        a.stop()


def test_introspect_and_read_every_property(bus_agent):
    address, agent = bus_agent
    out = busctl(address, "introspect", NAME, PATH, IFACE).stdout
    for prop, sig in PROPS.items():
        assert any(l.split()[:3] == ["." + prop, "property", sig] for l in out.splitlines()), prop
    assert any(l.split()[:2] == [".Thaw", "method"] for l in out.splitlines())
    assert get(address, "Version") == ("s", '"0.1.0"')
    assert get(address, "Method") == ("s", '"unix-listen"')
    assert get(address, "Path") == ("s", '"%s"' % agent.sock_path)
    assert get(address, "Frozen") == ("b", "false")
    assert get(address, "FrozenSince") == ("t", "0")
    started = int(get(address, "StartedAt")[1])
    assert abs(started / 1e6 - time.time()) < 120


def test_counters_follow_the_port(bus_agent):
    address, agent = bus_agent
    host = agent.connect()
    host.ok("ping")
    host.err("no-such-command")
    deadline = time.monotonic() + 5
    while get(address, "CommandsServed")[1] != "2":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert get(address, "CommandsFailed") == ("t", "1")
    assert get(address, "LastCommand") == ("s", '"no-such-command"')
    assert get(address, "HostConnected") == ("b", "true")


class Monitor:
    """`busctl monitor` of the PropertiesChanged signals on the agent's object path, each
    with the time it arrived here."""

    MATCH = ("type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
             "path='%s'" % PATH)

    def __init__(self, address):
        self.address = address
        # line-buffered, or its lines wait in a pipe buffer until it exits
        self.proc = subprocess.Popen(["stdbuf", "-oL", "busctl", "--address=" + address, "monitor", "--json=short",
                                      "--match", self.MATCH], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        # Ready once a signal sent after it started has reached it: send probes until one does.
        deadline = time.monotonic() + 10
        while True:
            busctl(address, "emit", PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                   IFACE, "1", "Probe", "b", "true", "0")
            try:
                while "Probe" not in self.next(min(0.2, deadline - time.monotonic()))[1]:
                    pass
                return
            except queue.Empty:
                assert time.monotonic() < deadline, "busctl monitor never saw a probe"

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line))

    def next(self, timeout):
        return self.lines.get(timeout=max(timeout, 0))

    def changes(self, prop, until):
        """(arrival, value) of each PropertiesChanged carrying prop, until `until` returns
        True for a value (or 10 s pass)."""
        seen, lines = [], []
        deadline = time.monotonic() + 10
        while True:
            try:
                when, line = self.next(deadline - time.monotonic())
            except queue.Empty:
                raise AssertionError("no %s change to the awaited value; monitor saw: %r" % (prop, lines))
            lines.append(line)
            if not line.startswith("{"):
                continue
            changed = json.loads(line)["payload"]["data"][1]
            if prop in changed:
                value = changed[prop]["data"]
                seen.append((when, value))
                if until(value):
                    return seen

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def test_counters_are_coalesced(bus_agent):
    """A burst of requests costs a few PropertiesChanged a second, not one per request, and
    the counters end at the right values."""
    address, agent = bus_agent
    mon = Monitor(address)
    try:
        host = agent.connect()
        start = time.monotonic()
        sent = failed = 0
        # at least 1 s of sequential requests: several publication intervals
        while time.monotonic() - start < 1.0 or sent < 500:
            if sent % 10 == 9:
                host.err("no-such-command")
                failed += 1
            else:
                host.ok("ping")
            sent += 1
        host.ok("get-commands")
        sent += 1
        seen = mon.changes("CommandsServed", lambda v: v == sent)
        span = seen[-1][0] - start
        assert len(seen) <= span / PUBLISH_S + 2, (len(seen), span, sent)
        # published while the burst went on, not only at its end
        assert len(seen) >= 3, seen
        assert [v for _, v in seen] == sorted(v for _, v in seen)
        assert get(address, "CommandsServed") == ("t", str(sent))
        assert get(address, "CommandsFailed") == ("t", str(failed))
        assert get(address, "LastCommand") == ("s", '"get-commands"')
    finally:
        mon.stop()


def test_host_connected_signals(bus_agent):
    """HostConnected is not coalesced: an arrival and a departure within one publication
    interval are two signals. (Each is awaited before the next step: GDBus sends what
    changed in one main-loop iteration as one signal, and true-then-false in the same
    iteration as none.)"""
    address, agent = bus_agent
    mon = Monitor(address)
    try:
        host = agent.connect()
        seen = mon.changes("HostConnected", lambda v: v is True)
        host.ok("ping")
        host.close()
        seen += mon.changes("HostConnected", lambda v: v is False)
        assert [v for _, v in seen] == [True, False]
    finally:
        mon.stop()


def test_anyone_reads_only_root_thaws(bus_agent):
    address, agent = bus_agent
    # nobody may read and introspect
    assert get(address, "Version", user="nobody") == ("s", '"0.1.0"')
    assert busctl(address, "introspect", NAME, PATH, user="nobody").returncode == 0
    # but not call Thaw
    out = busctl(address, "call", NAME, PATH, IFACE, "Thaw", user="nobody", check=False)
    assert out.returncode != 0 and "denied" in (out.stderr + out.stdout).lower(), out
    # root may (nothing is frozen: a no-op that succeeds)
    assert busctl(address, "call", NAME, PATH, IFACE, "Thaw").returncode == 0
    assert agent.connect().ok("get-freeze-status") is False


def test_serves_the_port_without_a_bus(tmp_path):
    a = Agent(tmp_path)  # DBUS_SYSTEM_BUS_ADDRESS points at nothing
    try:
        assert a.connect().ok("ping") == "0.1.0"
        # The bus is tried asynchronously, so the port may be served first: under load the
        # agent was stopped before it had said anything (1 run in 5 with both cores busy).
        wait_until(lambda: "no system bus" in a.log_path.read_text(errors="replace"),
                   "the agent never said it has no bus")
    finally:
        a.stop()
    log = a.log_path.read_text()
    assert log.count("no system bus") == 1


def test_losing_the_bus_does_not_stop_the_agent(bus_agent, private_bus):
    address, agent = bus_agent
    _, daemon = private_bus
    daemon.kill()
    daemon.wait()
    time.sleep(0.5)
    assert agent.alive()
    assert agent.connect().ok("ping") == "0.1.0"


def test_no_dbus_option(private_bus, tmp_path):
    address, _ = private_bus
    a = Agent(tmp_path, args=["--no-dbus"], bus=address)
    try:
        assert a.connect().ok("ping") == "0.1.0"
        assert busctl(address, "status", NAME, check=False).returncode != 0
    finally:
        a.stop()
