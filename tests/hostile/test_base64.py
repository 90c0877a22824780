"""Attack 15: non-canonical base64 (padding bits set) must be refused, nothing written.

Before (plain build, bfe4bc9): `AB==` and `AAB=` were accepted and decoded as if the stray
bits were zero (1 and 2 bytes written).
"""
import os

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("text", ["AB==", "AAB=", "Zh==", "Zm9=", "Zm9vYh=="])
def test_padding_bits_refused(host, tmp_path, text):
    target = tmp_path / "out"
    handle = host.ok("file-open", {"path": str(target), "mode": "w"})
    code, message = host.err("file-write", {"handle_id": handle, "bufb64": text})
    assert code == 22 and "base64" in message, message
    host.ok("file-close", {"handle_id": handle})
    assert os.path.getsize(target) == 0


@pytest.mark.parametrize("text,data", [("AA==", b"\0"), ("AAA=", b"\0\0"), ("Zg==", b"f"), ("Zm8=", b"fo")])
def test_canonical_accepted(host, tmp_path, text, data):
    target = tmp_path / "out"
    handle = host.ok("file-open", {"path": str(target), "mode": "w"})
    host.ok("file-write", {"handle_id": handle, "bufb64": text})
    host.ok("file-close", {"handle_id": handle})
    assert target.read_bytes() == data
