"""Numbers on the wire: the shortest text that reads back to the same value (sysinfo's load
went out as 0.51000000000000001). The encoder itself is unit-tested in tests/unit/test-reply.c
(both dialects write through it); here, the bytes of a real reply."""
import re


def loads_now():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def test_sysinfo_load_is_written_as_the_kernel_gives_it(host):
    before = loads_now()
    host.send_raw(b'{"execute":"sysinfo","tag":"n"}\n')
    line = host.read_line().decode()
    after = loads_now()
    m = re.search(r'"loadavg":\{"1m":([^,]+),"5m":([^,]+),"15m":([^}]+)\}', line)
    assert m, line
    for i, text in enumerate(m.groups()):
        # /proc/loadavg's "0.50" is the double 0.5: Python's repr is the shortest text too
        assert text in (repr(float(before[i])), repr(float(after[i]))), (text, before, after)
        assert len(text.split(".")[-1]) <= 2, text
