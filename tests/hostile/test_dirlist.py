"""Attack 10f: directory-list of a directory with 200,000 entries.

Before (plain build, bfe4bc9): 1.2 GB peak (every name, then every entry's JSON tree, then the
reply text). Now: at most PHX_DIRLIST_MAX entries, the first ones by name over ALL names
(a bounded max-heap while scanning), so `n` and the cut always pick the same entries.

Added (not in the issue): 4 listings of that directory at once. Each is bounded now, but
nothing bounds their sum: ~700 MB peak with this branch's per-listing bound (6 at once:
1055 MB); on bfe4bc9 a single listing already peaked at 1.2 GB.
"""
import os
import pathlib
import shutil
import tempfile

import pytest

from conftest import limit, report, timed

pytestmark = pytest.mark.timeout(300)

ENTRIES = 200_000


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory):
    # On tmpfs when there is one: 200,000 creations on a busy disk's journal take minutes.
    shm = pathlib.Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = pathlib.Path(tempfile.mkdtemp(prefix="phx-hostile-", dir=shm))
    else:
        d = tmp_path_factory.mktemp("big")
    # Names whose creation order is not their sorted order, so a cut taken before sorting
    # (or on readdir order) shows up.
    names = ["e%07d" % ((i * 7919) % ENTRIES) for i in range(ENTRIES)]
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=dfd))
    finally:
        os.close(dfd)
    yield d, sorted(names)
    # 200,000 inodes are not left for pytest's kept temp dirs.
    shutil.rmtree(d, ignore_errors=True)


def test_huge_directory_bounded(agent, big_dir):
    d, names = big_dir
    host = agent.connect()
    entries, seconds = timed(host.ok, "directory-list", {"path": str(d)}, timeout=120)
    got = [e["name"] for e in entries]
    report("attack10f-dirlist", entries=len(got), seconds=seconds)
    agent.assert_hwm("attack10f-dirlist")
    cut = min(ENTRIES, limit("PHX_DIRLIST_MAX"))
    assert got == names[:cut], "the first PHX_DIRLIST_MAX names in sorted order"
    assert all(e["isdir"] is False and e["stat"]["Size"] == 0 for e in entries[:10])


def test_n_picks_the_first_names(host, big_dir):
    d, names = big_dir
    for n in (1, 10, 1000):
        entries = host.ok("directory-list", {"path": str(d), "n": n}, timeout=60)
        assert [e["name"] for e in entries] == names[:n]


def test_parallel_listings(agent, big_dir):
    d, names = big_dir
    host = agent.connect()
    for _ in range(4):
        host.send("directory-list", {"path": str(d)})
    for _ in range(4):
        reply = host.read_reply(180)
        assert len(reply["return"]) == min(ENTRIES, limit("PHX_DIRLIST_MAX"))
    report("attack10f-parallel-dirlist", listings=4)
    agent.assert_hwm("attack10f-parallel-dirlist")
