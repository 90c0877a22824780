"""A private /etc for tests that add users: the machine's own entries that user lookups, PAM
and the dynamic loader read, copied, then bind-mounted over /etc in a private mount namespace
for the agent (or qemu-ga) alone. The machine's /etc is never changed."""
import pathlib
import shutil

# what getpwnam/getgrnam (nsswitch), chpasswd (PAM, login.defs) and ld.so read
ETC_FOR_USERS = ["passwd", "group", "shadow", "gshadow", "nsswitch.conf", "login.defs", "pam.conf", "pam.d",
                 "security", "environment", "default", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
                 "host.conf"]
# and what a login shell reads
ETC_FOR_LOGINS = ETC_FOR_USERS + ["profile", "profile.d", "bash.bashrc", "inputrc", "terminfo", "shells"]


def copy_etc(base, names):
    """base/etc with copies of the named entries of /etc (those that exist)."""
    etc = pathlib.Path(base) / "etc"
    etc.mkdir()
    for name in names:
        src = pathlib.Path("/etc") / name
        if src.is_dir():
            shutil.copytree(src, etc / name, symlinks=True)
        elif src.exists():
            shutil.copy2(src, etc / name)
    return etc


def append(path, *lines):
    with open(path, "a") as f:
        for line in lines:
            f.write(line + "\n")


def with_etc(etc):
    """The command prefix that runs a program with etc as its /etc (private mount namespace)."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc && exec "$@"', str(etc)]
