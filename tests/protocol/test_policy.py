"""The read-only preset of the example configuration (data/phoenix-ga.conf): the agent starts
with it, KubeVirt would still call the agent usable (its ten commands listed and enabled), and
nothing that changes the guest or reads its files is enabled, in either dialect."""
import json
import re

from conftest import ROOT, Agent
from qgalib import replies
from test_qga_clients import KUBEVIRT_REQUIRED

CHANGES_THE_GUEST = ("guest-exec", "guest-file-open", "guest-file-write", "guest-set-user-password",
                     "guest-ssh-add-authorized-keys", "guest-set-time", "guest-set-vcpus",
                     "guest-set-memory-blocks", "guest-suspend-ram", "guest-fstrim")
PHOENIX_CHANGES = ("exec", "file-open", "file-write", "file-chown", "file-chmod", "directory-create",
                   "set-user-password", "ssh-add-authorized-keys", "ipaddr-add", "route-add", "net-iface-down",
                   "system-shutdown", "get-file-hash")


def preset():
    text = (ROOT / "data" / "phoenix-ga.conf").read_text()
    block = re.search(r"# --- read-only preset ---\n(.*?)# --- end of the read-only preset ---", text, re.S).group(1)
    return "[general]\n" + "".join(line[1:] + "\n" for line in block.splitlines() if line.startswith("#"))


def test_read_only_preset_keeps_kubevirt_and_changes_nothing(tmp_path):
    conf = tmp_path / "preset.conf"
    conf.write_text(preset())
    (tmp_path / "a").mkdir()
    a = Agent(tmp_path / "a", args=("--config", str(conf)))
    try:
        info = replies(a.sock_path, [b'{"execute":"guest-info"}'])[0]["return"]["supported_commands"]
        enabled = {c["name"] for c in info if c["enabled"]}
        assert set(KUBEVIRT_REQUIRED) <= enabled
        assert not set(CHANGES_THE_GUEST) & enabled
        c = a.connect()
        phoenix = set(c.ok("get-commands"))
        assert not set(PHOENIX_CHANGES) & phoenix
        assert {"sysinfo", "get-netifaces", "fs-freeze", "fs-unfreeze"} <= phoenix
        r = replies(a.sock_path, [json.dumps({"execute": "guest-exec", "arguments": {"path": "true"}}).encode()])
        assert r[0]["error"] == {"class": "CommandNotFound", "desc": "Command guest-exec has been disabled"}
    finally:
        assert a.stop() in (0, -15)
