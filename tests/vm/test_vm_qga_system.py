"""qemu-ga's system-information commands in the real guest: guest-set-time with and without
`time` (the guest has no hwclock: the agent drives the RTC itself), its errors without an
RTC, guest-get-users from a real utmp file and from logind's session files, and every one of
them answering while the guest's filesystems are frozen. The clock changed here is the
guest's own; it is set back to the host's time at the end."""
import base64
import calendar
import struct
import time

import pytest

NS = 10**9
UTMP_FMT = "hi32s4s32s256shhiii4i20x"  # struct utmp on x86-64 (384 bytes)
BOOT_TIME, USER_PROCESS, DEAD_PROCESS = 2, 7, 8


def sh_ok(guest, cmd):
    code, out = guest.sh(cmd)
    assert code == 0, (cmd, out)
    return out


def guest_clock(guest):
    return int(sh_ok(guest, "date +%s"))


def rtc_clock(guest):
    """The RTC's own idea of the time, as the kernel's rtc class reads it from the device."""
    return int(sh_ok(guest, "cat /sys/class/rtc/rtc0/since_epoch"))


@pytest.fixture(scope="module")
def host(guest):
    # No hwclock program anywhere (qemu-ga runs /sbin/hwclock and fails without it):
    # busybox installs one as a link to its applet, removed here. (Its shell may still run
    # the applet by name; the agent runs no program at all.)
    hwclocks = "/bin/hwclock /sbin/hwclock /usr/bin/hwclock /usr/sbin/hwclock"
    guest.sh("rm -f " + hwclocks)
    assert guest.sh("ls " + hwclocks)[0] != 0
    assert guest.sh("test -c /dev/rtc0")[0] == 0, "the guest kernel has no RTC device"
    h = guest.wait_for_agent()
    yield h
    # the guest's clock and RTC back to the host's time
    h.qga_ok("guest-set-time", {"time": time.time_ns()})
    h.close()


def test_set_time_sets_the_clock_and_the_rtc(guest, host):
    target = 1906884000  # 2030-06-06 08:40:00 UTC
    assert host.qga_ok("guest-set-time", {"time": target * NS + 600_000_000}) == {}
    clock = guest_clock(guest)
    assert target <= clock <= target + 30
    # the RTC holds the nearest whole second to what was asked
    assert target + 1 <= rtc_clock(guest) <= target + 30
    got = host.qga_ok("guest-get-time")
    assert target * NS <= got <= (target + 30) * NS


def test_set_time_without_time_reads_the_rtc(guest, host):
    rtc_time = 1924992000  # 2031-01-01 00:00:00 UTC
    assert host.qga_ok("guest-set-time", {"time": rtc_time * NS}) == {}
    # the system clock goes elsewhere, the RTC stays
    sh_ok(guest, "date -u -s '2035-03-04 05:06:07' >/dev/null")
    elsewhere = calendar.timegm((2035, 3, 4, 5, 6, 7))
    assert elsewhere <= guest_clock(guest) <= elsewhere + 30
    rtc = rtc_clock(guest)
    assert rtc_time <= rtc <= rtc_time + 30
    assert host.qga_ok("guest-set-time") == {}
    clock, rtc = guest_clock(guest), rtc_clock(guest)
    assert abs(clock - rtc) <= 2, (clock, rtc)
    assert rtc_time <= clock <= rtc_time + 30


def test_set_time_refuses_times_qemu_ga_refuses(guest, host):
    before = guest_clock(guest)
    for bad in (-1, 3155760000 * NS, 2**63 - 1):
        cls, desc = host.qga_err("guest-set-time", {"time": bad})
        assert cls == "GenericError" and desc.startswith("Invalid time"), desc
    assert abs(guest_clock(guest) - before) <= 5


def test_set_time_without_an_rtc_says_so(guest, host):
    sh_ok(guest, "mv /dev/rtc0 /dev/rtc0.away")
    try:
        cls, desc = host.qga_err("guest-set-time")
        assert cls == "GenericError"
        assert "no hardware clock" in desc and "/dev/rtc0" in desc and "No such file" in desc, desc
        # with a time: the system clock is set, and the reply says the RTC was not
        target = 1956528000  # 2032-01-01 00:00:00 UTC
        cls, desc = host.qga_err("guest-set-time", {"time": target * NS})
        assert "the system clock was set, the hardware clock was not" in desc and "/dev/rtc0" in desc, desc
        assert target <= guest_clock(guest) <= target + 30
    finally:
        sh_ok(guest, "mv /dev/rtc0.away /dev/rtc0")


def utmp_record(kind, user, line, host, sec, usec=0):
    return struct.pack(UTMP_FMT, kind, 4242, line.encode(), b"ts/0", user.encode(), host.encode(),
                       0, 0, 0, sec, usec, 0, 0, 0, 0)


def put_file(guest, path, data):
    """Writes `data` to `path` in the guest, in base64 lines short enough for its shell."""
    text = base64.b64encode(data).decode()
    sh_ok(guest, "rm -f /tmp/put.b64")
    for i in range(0, len(text), 400):
        sh_ok(guest, "echo %s >> /tmp/put.b64" % text[i:i + 400])
    sh_ok(guest, "base64 -d /tmp/put.b64 > %s && rm /tmp/put.b64" % path)
    assert int(sh_ok(guest, "wc -c < %s" % path)) == len(data)


def session(user, realtime_usec, klass="user", state="active"):
    return ("UID=1000\nUSER=%s\nACTIVE=1\nSTATE=%s\nREMOTE=1\nTYPE=tty\nCLASS=%s\nTTY=/dev/pts/0\n"
            "REMOTE_HOST=192.0.2.1\nREALTIME=%d\nMONOTONIC=1\n" % (user, state, klass, realtime_usec)).encode()


def test_users_from_utmp_then_from_logind(guest, host):
    # glibc's utmp is /var/run/utmp; the guest's /var/run is made to be /run
    sh_ok(guest, "mkdir -p /var && { [ -e /var/run ] || ln -s /run /var/run; }")
    try:
        assert host.qga_ok("guest-get-users") == []
        put_file(guest, "/run/utmp",
                 utmp_record(BOOT_TIME, "reboot", "~", "", 1700000000) +
                 utmp_record(USER_PROCESS, "alice", "pts/0", "10.1.1.1", 1700000100, 500000) +
                 utmp_record(USER_PROCESS, "bob", "tty1", "", 1700000200) +
                 utmp_record(USER_PROCESS, "alice", "pts/1", "", 1700000050, 250000) +
                 utmp_record(DEAD_PROCESS, "carol", "pts/2", "", 1700000000))
        sh_ok(guest, "mkdir -p /run/systemd/sessions")
        put_file(guest, "/run/systemd/sessions/5", session("dave", 1700000300 * 10**6))
        # utmp has logins: it alone is read
        assert host.qga_ok("guest-get-users") == [{"user": "alice", "login-time": 1700000050.25},
                                                   {"user": "bob", "login-time": 1700000200.0}]
        # no utmp (Debian 13, systemd >= 257): logind's user sessions
        sh_ok(guest, "rm /run/utmp")
        put_file(guest, "/run/systemd/sessions/6", session("dave", 1700000250 * 10**6 + 125000))
        put_file(guest, "/run/systemd/sessions/7", session("cron", 1700000000 * 10**6, klass="background"))
        put_file(guest, "/run/systemd/sessions/8", session("erin", 1700000000 * 10**6, state="closing"))
        sh_ok(guest, "mkfifo /run/systemd/sessions/5.ref")
        assert host.qga_ok("guest-get-users") == [{"user": "dave", "login-time": 1700000250.125}]
    finally:
        guest.sh("rm -rf /run/utmp /run/systemd")


def test_everything_answers_while_frozen(guest, host):
    assert host.ok("fs-freeze") is True
    try:
        assert guest.sh("grep -q ' /data ext4' /proc/mounts")[0] == 0
        t0 = time.monotonic()
        assert isinstance(host.qga_ok("guest-get-time"), int)
        assert host.qga_ok("guest-set-time", {"time": time.time_ns()}) == {}
        assert host.qga_ok("guest-set-time") == {}
        assert set(host.qga_ok("guest-get-host-name")) == {"host-name"}
        assert {"kernel-release", "kernel-version", "machine"} <= set(host.qga_ok("guest-get-osinfo"))
        assert set(host.qga_ok("guest-get-timezone")) == {"zone", "offset"}
        assert host.qga_ok("guest-get-users") == []
        assert set(host.qga_ok("guest-get-load")) == {"load1m", "load5m", "load15m"}
        assert host.qga_ok("guest-get-cpustats")[0]["type"] == "linux"
        assert time.monotonic() - t0 < 5  # well before the 8 s auto-thaw
        assert host.ok("get-freeze-status") is True
    finally:
        assert host.ok("fs-unfreeze") is True
