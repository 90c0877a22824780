"""qemu-ga's storage commands in a guest of its own whose disks sit on every bus the agent
reads addresses for: the data disk (virtio-blk), a virtio-blk disk with a serial, a disk on
the machine's PIIX IDE controller (secondary master) with two partitions, a SATA disk on an
AHCI controller (port 2), a virtio-scsi disk (scsi-id 1, LUN 3) and an NVMe disk, each
controller at a PCI slot chosen here. The expected addresses come from this QEMU command line,
not from the guest's sysfs. The storage drivers are not in the test initramfs: the virtio-blk
disk with the serial carries them (Debian's own modules for the guest kernel) and the test
loads them. Also: dm over the SCSI disk (fsinfo follows its slaves; get-disks lists alias and
dependencies), partitions, statvfs bytes, diskstats, fstrim on real mounts (the modules disk
has discard=off: the one that cannot trim)."""
import os
import shutil
import struct
import subprocess
import time

import pytest

from conftest import AGENT, ROOT, Guest, Host

QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"

MODULES = ["scsi_common", "scsi_mod", "crct10dif_common", "crc-t10dif", "crc64", "crc64-rocksoft", "t10-pi",
           "sd_mod", "libata", "ata_piix", "libahci", "ahci", "virtio_scsi", "nvme-core", "nvme"]
SLOT_SCSI, SLOT_AHCI, SLOT_NVME, SLOT_MODS = 0x10, 0x11, 0x12, 0x13
SERIAL = "PHXSERIAL7"


def mbr_with_two_partitions(path, size_mib):
    """A raw disk image with an MBR of two Linux partitions (1 MiB..half, half..end)."""
    sectors = size_mib * 2048
    half = sectors // 2
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
        table = b""
        for start, count in ((2048, half - 2048), (half, sectors - half)):
            table += struct.pack("<B3sB3sII", 0, b"\xff\xff\xff", 0x83, b"\xff\xff\xff", start, count)
        f.seek(446)
        f.write(table + b"\x00" * 32 + b"\x55\xaa")


def must(guest, command, timeout=60):
    code, out = guest.sh(command, timeout=timeout)
    assert code == 0, "%s: %s" % (command, out)
    return out


@pytest.fixture(scope="module")
def sguest(tmp_path_factory):
    work = tmp_path_factory.mktemp("qga-storage")
    # the guest kernel's modules: build-guest.sh unpacks the kernel package (Guest runs it again)
    subprocess.run(["sh", str(ROOT / "tests" / "vm" / "build-guest.sh"), str(work), AGENT], check=True,
                   capture_output=True)
    kdir = next((work / "kernel" / "lib" / "modules").iterdir())
    mods = work / "mods"
    mods.mkdir()
    for m in MODULES:
        found = [p for p in kdir.rglob(m + ".ko")]
        assert found, "module %s not in the guest kernel package" % m
        (mods / (m + ".ko")).write_bytes(found[0].read_bytes())
    (mods / "order").write_text(" ".join(MODULES) + "\n")
    # Debian's qemu-ga 7.2 and its libraries, to run beside the agent on a port of its own
    (mods / "qga" / "lib").mkdir(parents=True)
    shutil.copy(QEMU_GA, mods / "qga" / "qemu-ga")
    libs = subprocess.run(["ldd", QEMU_GA], check=True, capture_output=True, text=True).stdout
    for lib in [w for w in libs.split() if w.startswith("/")]:
        shutil.copy(lib, mods / "qga" / "lib" / os.path.basename(lib))
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(mods), str(work / "mods.img"), "32M"], check=True)
    for name in ("ide", "sata", "scsi", "nvme"):
        (work / (name + ".img")).write_bytes(b"")
        os.truncate(work / (name + ".img"), 32 << 20)
    mbr_with_two_partitions(work / "ide.img", 32)
    extra = [
        "-drive", "file=%s,if=none,id=mods,format=raw" % (work / "mods.img"),
        "-device", "virtio-blk-pci,drive=mods,serial=%s,addr=0x%x,discard=off" % (SERIAL, SLOT_MODS),
        "-drive", "file=%s,if=none,id=ide0,format=raw" % (work / "ide.img"),
        "-device", "ide-hd,drive=ide0,bus=ide.1,unit=0",
        "-device", "ich9-ahci,id=ahci,addr=0x%x" % SLOT_AHCI,
        "-drive", "file=%s,if=none,id=sata0,format=raw" % (work / "sata.img"),
        "-device", "ide-hd,drive=sata0,bus=ahci.2",
        "-device", "virtio-scsi-pci,id=scsi0,addr=0x%x" % SLOT_SCSI,
        "-drive", "file=%s,if=none,id=scsi0d,format=raw,discard=unmap" % (work / "scsi.img"),
        "-device", "scsi-hd,drive=scsi0d,bus=scsi0.0,channel=0,scsi-id=1,lun=3",
        "-drive", "file=%s,if=none,id=nvme0d,format=raw" % (work / "nvme.img"),
        "-device", "nvme,drive=nvme0d,serial=PHXNVME1,addr=0x%x" % SLOT_NVME,
        "-chardev", "socket,id=qga1,path=%s,server=on,wait=off" % (work / "qga.sock"),
        "-device", "virtserialport,chardev=qga1,name=org.qemu.guest_agent.0",
    ]
    g = Guest(work, extra_args=extra)
    try:
        must(g, "mkdir -p /mnt/mods && mount -o ro /dev/vdb /mnt/mods && "
                "for m in $(cat /mnt/mods/order); do insmod /mnt/mods/$m.ko || exit 1; done")
        # the disks appear as their drivers probe them
        deadline = time.monotonic() + 60
        while must(g, "ls /sys/block | grep -c -E '^(sd|nvme)' || true") != "4":
            assert time.monotonic() < deadline, must(g, "ls /sys/block; dmesg | tail -n 30")
            time.sleep(0.5)
        # qemu-ga on its own virtio-serial port (no udev here: its node made from sysfs)
        must(g, "for p in /sys/class/virtio-ports/*; do [ $(cat $p/name) = org.qemu.guest_agent.0 ] && "
                "d=$(cat $p/dev) && mknod /dev/qga0 c ${d%:*} ${d#*:}; done; mkdir -p /run/qga && "
                "setsid /mnt/mods/qga/lib/ld-linux-x86-64.so.2 --library-path /mnt/mods/qga/lib "
                "/mnt/mods/qga/qemu-ga -m virtio-serial -p /dev/qga0 -t /run/qga </dev/null >/run/qga.log 2>&1 &")
        g.qga_sock = str(work / "qga.sock")
        yield g
    finally:
        g.stop()


@pytest.fixture
def h(sguest):
    host = sguest.wait_for_agent()
    for _ in range(5):
        try:
            host.qga_ok("guest-ping", timeout=3)
            break
        except TimeoutError:
            continue
    yield host
    host.close()


@pytest.fixture
def qga(sguest):
    """Debian's qemu-ga 7.2 in the same guest, on its own port."""
    host = Host(sguest.qga_sock)
    deadline = time.monotonic() + 30
    while True:
        try:
            host.qga_ok("guest-ping", timeout=2)
            break
        except TimeoutError:
            assert time.monotonic() < deadline, must(sguest, "cat /run/qga.log")
    yield host
    host.close()


def without_serial(addr):
    return {k: v for k, v in addr.items() if k != "serial"}


def block_named(guest, pattern):
    """The kernel name of the one block device whose sysfs path matches a shell pattern."""
    out = must(guest, "for d in /sys/block/*; do case $(readlink -f $d) in %s) basename $d;; esac; done"
               % pattern)
    assert len(out.split()) == 1, out
    return out


def pci(slot, function=0):
    return {"domain": 0, "bus": 0, "slot": slot, "function": function}


def expected(guest):
    """dev -> (pci-controller, bus-type, bus, target, unit), from the QEMU command line."""
    return {
        "/dev/vdb": (pci(SLOT_MODS), "virtio", 0, 0, 0),
        "/dev/" + block_named(guest, "*/0000:00:01.1/ata*"): (pci(1, 1), "ide", 1, 0, 0),
        "/dev/" + block_named(guest, "*/0000:00:%02x.0/ata*" % SLOT_AHCI): (pci(SLOT_AHCI), "sata", 0, 0, 2),
        "/dev/" + block_named(guest, "*/0000:00:%02x.0/virtio*" % SLOT_SCSI): (pci(SLOT_SCSI), "scsi", 0, 1, 3),
        "/dev/" + block_named(guest, "*/0000:00:%02x.0/nvme*" % SLOT_NVME): (pci(SLOT_NVME), "nvme", 0, 0, 0),
    }


def test_get_disks_addresses_on_every_bus(sguest, h):
    disks = {d["name"]: d for d in h.qga_ok("guest-get-disks")}
    want = expected(sguest)
    for dev, (ctrl, bus_type, bus, target, unit) in want.items():
        d = disks[dev]
        assert d["partition"] is False and d["dependencies"] == [], d
        a = d["address"]
        assert (a["pci-controller"], a["bus-type"], a["bus"], a["target"], a["unit"], a["dev"]) == \
            (ctrl, bus_type, bus, target, unit, dev), d
    assert disks["/dev/vdb"]["address"]["serial"] == SERIAL
    # an NVMe disk's health log (QEMU's controller: 323 K, no spare used, powered on)
    nvme = [dev for dev, w in want.items() if w[1] == "nvme"][0]
    smart = disks[nvme]["smart"]
    assert smart["type"] == "nvme" and smart["temperature"] == 323 and smart["critical-warning"] == 0, smart
    assert smart["host-read-commands-lo"] > 0 and smart["host-read-commands-hi"] == 0, smart
    assert all("smart" not in d for n, d in disks.items() if n != nvme)
    assert disks["/dev/vda"]["address"]["bus-type"] == "virtio"
    # the IDE disk's two partitions, each depending on it, right after it (qemu-ga's order)
    ide = [dev for dev, w in want.items() if w[1] == "ide"][0]
    names = [d["name"] for d in h.qga_ok("guest-get-disks")]
    parts = sorted(n for n in names if n.startswith(ide) and n != ide)
    assert parts == [ide + "1", ide + "2"]
    for p in parts:
        assert disks[p] == {"name": p, "partition": True, "dependencies": [ide]}
    assert names.index(ide) > max(names.index(p) for p in parts)
    # every device with a size, no empty loop device
    sized = must(sguest, "for d in /sys/block/*; do [ $(cat $d/size) != 0 ] && basename $d; done; true").split()
    assert {n for n, d in disks.items() if not d["partition"]} == {"/dev/" + n for n in sized}


@pytest.fixture
def stacked(sguest, h):
    """ext4 on an IDE partition, and ext4 on a dm-linear device over the whole SCSI disk."""
    want = expected(sguest)
    ide = [dev for dev, w in want.items() if w[1] == "ide"][0]
    scsi = [dev for dev, w in want.items() if w[1] == "scsi"][0]
    must(sguest, "mkfs.ext4 -q -F %s1 && mkdir -p /mnt/part && mount -t ext4 %s1 /mnt/part" % (ide, ide))
    must(sguest, "export DM_DISABLE_UDEV=1; dmsetup create phxq --table \"0 $(cat /sys/block/%s/size) linear %s 0\" "
                 "&& mkfs.ext4 -q -F /dev/mapper/phxq && mkdir -p /mnt/dmq && mount -t ext4 /dev/mapper/phxq /mnt/dmq"
                 % (scsi[5:], scsi))
    dm = must(sguest, "for d in /sys/block/dm-*; do [ $(cat $d/dm/name) = phxq ] && basename $d; done; true")
    yield ide, scsi, dm
    sguest.sh("umount /mnt/part; umount /mnt/dmq; DM_DISABLE_UDEV=1 dmsetup remove phxq", timeout=60)


def test_fsinfo_partition_and_dm(sguest, h, stacked):
    ide, scsi, dm = stacked
    fs = {f["mountpoint"]: f for f in h.qga_ok("guest-get-fsinfo")}
    want = expected(sguest)
    part = fs["/mnt/part"]
    assert (part["name"], part["type"]) == (ide[5:] + "1", "ext4")
    (d,) = part["disk"]
    assert d["dev"] == ide + "1"  # the partition's node, as qemu-ga (libudev) gives it
    assert (d["pci-controller"], d["bus-type"], d["bus"], d["target"], d["unit"]) == want[ide]
    # dm resolves to its slave, the SCSI disk
    dmq = fs["/mnt/dmq"]
    assert dmq["name"] == dm
    (d,) = dmq["disk"]
    assert d["dev"] == scsi
    assert (d["pci-controller"], d["bus-type"], d["bus"], d["target"], d["unit"]) == want[scsi]
    # the data disk, and nothing virtual
    data = fs["/data"]
    assert data["name"] == "vda" and data["disk"][0]["dev"] == "/dev/vda"
    assert data["disk"][0]["bus-type"] == "virtio" and data["disk"][0]["pci-controller"]["slot"] >= 0
    assert "/proc" not in fs and "/run" not in fs and "/" not in fs  # initramfs, tmpfs: major 0
    # latest mount first, as qemu-ga
    order = [f["mountpoint"] for f in h.qga_ok("guest-get-fsinfo")]
    assert order.index("/mnt/dmq") < order.index("/mnt/part") < order.index("/data")
    # get-disks: the dm device, its name as alias, the SCSI disk as its dependency, no address
    disks = {x["name"]: x for x in h.qga_ok("guest-get-disks")}
    assert disks["/dev/" + dm] == {"name": "/dev/" + dm, "partition": False, "dependencies": [scsi], "alias": "phxq"}


def test_fsinfo_bytes_are_statvfs(sguest, h, stacked):
    # busybox stat -f: %S fundamental block size, %b blocks, %f free, %a available to users
    size, blocks, free, avail = map(int, must(sguest, "stat -f -c '%S %b %f %a' /mnt/part").split())
    f = [x for x in h.qga_ok("guest-get-fsinfo") if x["mountpoint"] == "/mnt/part"][0]
    assert f["used-bytes"] == (blocks - free) * size
    assert f["total-bytes"] == (blocks - free + avail) * size
    assert f["total-bytes-privileged"] == blocks * size
    assert f["total-bytes"] < f["total-bytes-privileged"]  # ext4 reserves 5 % for root


def test_diskstats(sguest, h):
    stats = h.qga_ok("guest-get-diskstats")
    lines = must(sguest, "cat /proc/diskstats").splitlines()
    assert [s["name"] for s in stats] == [l.split()[2] for l in lines]
    vda = [s for s in stats if s["name"] == "vda"][0]
    assert (vda["major"], vda["minor"]) == tuple(map(int, must(sguest, "cat /sys/block/vda/dev").split(":")))
    assert set(vda["stats"]) == {"read-ios", "read-merges", "read-sectors", "read-ticks", "write-ios", "write-merges",
                                 "write-sectors", "write-ticks", "ios-pgr", "total-ticks", "weight-ticks",
                                 "discard-ios", "discard-merges", "discard-sectors", "discard-ticks", "flush-ios",
                                 "flush-ticks"}
    assert vda["stats"]["read-ios"] > 0


def test_fstrim(sguest, h, stacked):
    must(sguest, "dd if=/dev/urandom of=/mnt/dmq/junk bs=64k count=64 2>/dev/null && sync && rm /mnt/dmq/junk && sync")
    ret = h.qga_ok("guest-fstrim", {"minimum": 4096}, timeout=120)
    paths = {p["path"]: p for p in ret["paths"]}
    # every mount get-fsinfo lists, in its order
    assert [p["path"] for p in ret["paths"]] == [f["mountpoint"] for f in h.qga_ok("guest-get-fsinfo")]
    # the SCSI disk takes discards (discard=unmap): trimmed, with the minimum
    assert paths["/mnt/dmq"].get("trimmed", 0) > 0 and paths["/mnt/dmq"]["minimum"] >= 4096, paths["/mnt/dmq"]
    # the modules disk does not (discard=off): qemu-ga's text
    assert paths["/mnt/mods"] == {"path": "/mnt/mods", "error": "trim not supported"}
    ret = h.qga_ok("guest-fstrim", timeout=120)
    assert {p["path"] for p in ret["paths"]} == set(paths)


def test_listings_answer_while_frozen_and_fstrim_waits(sguest, h):
    """fsinfo, disks and diskstats only read /proc, /sys and statvfs: they answer while frozen
    (qemu-ga refuses them); fstrim writes and is refused in qemu-ga's words."""
    assert h.qga_ok("guest-fsfreeze-freeze", timeout=60) >= 1
    try:
        assert any(f["mountpoint"] == "/data" for f in h.qga_ok("guest-get-fsinfo"))
        assert h.qga_ok("guest-get-disks")
        assert h.qga_ok("guest-get-diskstats")
        assert h.qga_err("guest-fstrim") == \
            ("CommandNotFound", "Command guest-fstrim has been disabled: the agent is in frozen state")
    finally:
        assert h.qga_ok("guest-fsfreeze-thaw", timeout=30) >= 1


def test_same_as_qemu_ga_in_the_guest(sguest, h, qga, stacked):
    """Debian's qemu-ga 7.2 on the same guest, the same moment: get-disks, get-fsinfo and
    get-diskstats agree (but for what doc/protocol.md lists as extended: qemu-ga without udev
    has no serial and no dm alias, 7.2 has no total-bytes-privileged; its virtio-scsi target is
    always 0)."""
    ours, theirs = h.qga_ok("guest-get-disks"), qga.qga_ok("guest-get-disks")
    assert [d["name"] for d in ours] == [d["name"] for d in theirs]
    for o, t in zip(ours, theirs):
        o = dict(o)
        if "alias" in o and "alias" not in t:
            # qemu-ga takes it from udev's DM_NAME: none without udev; ours is sysfs' dm/name
            assert o["alias"] == "phxq"
            del o["alias"]
        if "address" in o:
            o["address"] = without_serial(o["address"])
            if o["address"]["bus-type"] == "scsi" and o["address"]["target"] == 1:
                o["address"]["target"] = 0  # qemu-ga 7.2 reports the LUN only
        assert o == t
    ours, theirs = h.qga_ok("guest-get-fsinfo"), qga.qga_ok("guest-get-fsinfo")
    assert [f["mountpoint"] for f in ours] == [f["mountpoint"] for f in theirs]
    for o, t in zip(ours, theirs):
        disks = [without_serial(d) for d in o["disk"]]
        for d in disks:
            if d["bus-type"] == "scsi" and d["target"] == 1:
                d["target"] = 0
        assert disks == t["disk"], (o, t)
        del o["total-bytes-privileged"], o["disk"], t["disk"]
        assert o == t
    ours, theirs = h.qga_ok("guest-get-diskstats"), qga.qga_ok("guest-get-diskstats")
    assert [(d["name"], d["major"], d["minor"], sorted(d["stats"])) for d in ours] == \
        [(d["name"], d["major"], d["minor"], sorted(d["stats"])) for d in theirs]


def test_fstrim_same_paths_and_errors_as_qemu_ga(sguest, h, qga, stacked):
    ours, theirs = h.qga_ok("guest-fstrim", timeout=120), qga.qga_ok("guest-fstrim", timeout=120)
    assert [(p["path"], p.get("error"), "trimmed" in p, p.get("minimum")) for p in ours["paths"]] == \
        [(p["path"], p.get("error"), "trimmed" in p, p.get("minimum")) for p in theirs["paths"]]


def test_freeze_counts_same_as_qemu_ga(sguest, h, qga, stacked):
    """The same freezes through both agents, one after the other, on the same mounts (the
    data disk and a bind mount of it, a read-only ext4, an IDE partition, dm over SCSI): the
    same counts. Each agent thaws what it froze before the other starts."""
    must(sguest, "mkdir -p /data/sub /mnt/bindq && mount --bind /data/sub /mnt/bindq")
    try:
        for args in (None, {"mountpoints": ["/mnt/part", "/nope", "/mnt/bindq"]}, {"mountpoints": ["/data/"]}):
            name = "guest-fsfreeze-freeze" if args is None else "guest-fsfreeze-freeze-list"
            counts = []
            for agent in (h, qga):
                n = agent.qga_ok(name, args, timeout=60)
                try:
                    assert agent.qga_ok("guest-fsfreeze-status") == ("frozen" if n else "thawed")
                finally:
                    counts.append((n, agent.qga_ok("guest-fsfreeze-thaw", timeout=30)))
            assert counts[0] == counts[1], (args, counts)
        assert counts[0][0] == 0
    finally:
        must(sguest, "umount /mnt/bindq")
