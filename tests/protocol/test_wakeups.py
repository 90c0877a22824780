"""What a request costs the agent in sleeps and wake-ups, counted rather than timed (the
figures of doc/performance.md, "A timed poll and a second wake-up per ping"): one sleep per
sequential request, and no timed poll() while a coalesced D-Bus publication waits."""
import glob
import platform
import time

import pytest

from conftest import Agent
from test_dbus import private_bus, wait_for_name  # noqa: F401 (a fixture, used by name)

PINGS = 2000


def voluntary_switches(pid):
    total = 0
    for status in glob.glob("/proc/%d/task/*/status" % pid):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            pass  # a thread that has just ended
    return total


def sleeps_per_ping(agent):
    host = agent.connect()
    for _ in range(200):
        host.ok("ping")
    before = voluntary_switches(agent.proc.pid)
    for _ in range(PINGS):
        host.ok("ping")
    return (voluntary_switches(agent.proc.pid) - before) / PINGS


def test_one_sleep_per_sequential_ping(tmp_path):
    """The agent sleeps once per request-reply exchange. Watching a host socket for EPOLLOUT
    all the time (edge-triggered) woke it again each time the host read a reply: 1.4 to 2
    sleeps per ping, depending on timing."""
    agent = Agent(tmp_path, args=["--no-dbus"])
    try:
        assert sleeps_per_ping(agent) < 1.15
    finally:
        agent.stop()


def test_one_sleep_per_sequential_ping_dbus_on(private_bus, tmp_path):  # noqa: F811
    address, _ = private_bus
    agent = Agent(tmp_path, bus=address)
    try:
        wait_for_name(address)
        assert sleeps_per_ping(agent) < 1.15
    finally:
        agent.stop()


# poll() and ppoll() by architecture; GLib's main loop sleeps in one of them
POLL_NR = {"x86_64": 7, "aarch64": None}.get(platform.machine())
PPOLL_NR = {"x86_64": 271, "aarch64": 73}.get(platform.machine())


def main_thread_wait(pid, deadline):
    """(syscall number, arguments) of the agent's main thread once it sleeps in poll/ppoll."""
    while time.monotonic() < deadline:
        with open("/proc/%d/syscall" % pid) as f:
            fields = f.read().split()
        if fields and fields[0].isdigit() and int(fields[0]) in (POLL_NR, PPOLL_NR):
            return int(fields[0]), [int(x, 16) for x in fields[1:7]]
        time.sleep(0.001)
    raise AssertionError("the agent's main thread never slept in poll: %r" % fields)


@pytest.mark.skipif(PPOLL_NR is None, reason="syscall numbers known for x86_64 and aarch64 only")
def test_no_timed_poll_while_a_publication_waits(private_bus, tmp_path):  # noqa: F811
    """With D-Bus on, the coalesced counters wait up to 250 ms after each publication. The
    main loop must still sleep without a timeout meanwhile, the wait being a timerfd among the
    polled descriptors: a timed poll() made the kernel start and cancel an hrtimer for every
    request. (A GLib timeout is no descriptor: the old code never showed a third one.)"""
    address, _ = private_bus
    agent = Agent(tmp_path, bus=address)
    try:
        wait_for_name(address)
        host = agent.connect()
        # what the main loop polls with nothing waiting (the port's epoll fd, GLib's wake-up
        # fd, the families' own: the uevent socket): the publication's timerfd comes on top
        host.ok("ping")
        # the fewest over more than the interval: once the last publication is out, its
        # timerfd is gone, however late the loaded machine runs the agent
        base = None
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            nr, args = main_thread_wait(agent.proc.pid, time.monotonic() + 10)
            base = args[1] if base is None else min(base, args[1])
            time.sleep(0.05)
        seen = []
        for _ in range(50):
            host.ok("ping")  # published at once, or ...
            host.ok("ping")  # ... this one waits for the end of the interval
            nr, args = main_thread_wait(agent.proc.pid, time.monotonic() + 10)
            # poll()'s timeout is an int: -1 is 0xffffffff in the low half of the register;
            # ppoll()'s is a pointer, NULL for none
            infinite = (args[2] & 0xffffffff) == 0xffffffff if nr == POLL_NR else args[2] == 0
            assert infinite, "the main loop slept with a timeout: %r" % ([nr] + args[:3])
            nfds = args[1]
            seen.append(nfds)
            if nfds == base + 1:
                return  # the publication's timerfd among them
        raise AssertionError("never saw the publication's timerfd polled; descriptors polled: %r (%d when "
                             "nothing waits)" % (seen, base))
    finally:
        agent.stop()
