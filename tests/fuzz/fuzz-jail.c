/* fuzz-jail.c — where the fuzz target's agent runs: a private tmpfs, chrooted into for the
 * length of each script, in private mount and network namespaces; the seed files every
 * script starts from; leaving the chroot before a report is printed. It must never touch
 * anything outside its own directory.
 *
 * The agent runs as root and its commands take absolute paths: in the chroot (no /proc, no
 * /dev) every path ends in the tmpfs, and addresses and routes in the private namespace.
 * The working directory stays outside, which is why libFuzzer's artifact and corpus paths
 * must be relative; the agent only takes absolute paths. Without privileges for namespaces
 * (neither root nor user namespaces) there is no chroot: the caller disables the commands
 * that name paths or touch the network. */
#define G_LOG_DOMAIN "fuzz-jail"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "fuzz-jail.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* The tmpfs: files the scripts write, and a bound on them. */
#define JAIL_TMPFS_OPTIONS "size=16m,nr_inodes=4096,mode=0700"

static char *jail_path;         /* the private tmpfs (or our own directory), as seen from outside */
static int jail_fd = -1;        /* the same, for the wipe (works in or out of the chroot) */
static int real_root_fd = -1;
static int cwd_fd = -1;
static gboolean jailed;         /* private namespaces and tmpfs exist */
static gboolean in_jail;

void
fuzz_jail_leave (void)
{
        /* async-signal-safe: called from the sanitizer's error path too */
        if (!in_jail)
                return;
        if (fchdir (real_root_fd) < 0 || chroot (".") < 0 || fchdir (cwd_fd) < 0)
                _exit (99);
        in_jail = FALSE;
}

static void jail_remove (void);

/* Out of the chroot first, so that the trace can be symbolized; and no directory left behind
 * (abort() skips atexit). */
void
fuzz_fail (const char *format, ...)
{
        va_list args;
        g_autofree char *text = NULL;

        jail_remove ();
        va_start (args, format);
        text = g_strdup_vprintf (format, args);
        va_end (args);
        g_printerr ("fuzz-agent: %s\n", text);
        abort ();
}

void
fuzz_jail_enter (void)
{
        struct statfs sfs;

        if (!jailed)
                return;
        if (chroot (jail_path) < 0)
                fuzz_fail ("chroot %s: %s", jail_path, g_strerror (errno));
        in_jail = TRUE;
        if (statfs ("/", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
                fuzz_fail ("the chroot at %s is not the private tmpfs", jail_path);
}

/* ASan calls this before it prints a report: leave the chroot so that the report can be
 * symbolized (the symbolizer and /proc are outside). */
void __asan_on_error (void);
void
__asan_on_error (void)
{
        fuzz_jail_leave ();
}

/* In place: /proc files cannot be replaced the way g_file_set_contents() does it. */
static gboolean
write_proc (const char *path, const char *text)
{
        int fd = open (path, O_WRONLY | O_CLOEXEC);
        gboolean ok = fd >= 0 && write (fd, text, strlen (text)) == (gssize) strlen (text);

        if (fd >= 0)
                close (fd);
        return ok;
}

/* Root may enter namespaces directly; anyone else through a user namespace of their own. */
static gboolean
enter_namespaces (void)
{
        uid_t uid = geteuid ();
        gid_t gid = getegid ();
        g_autofree char *uid_map = NULL;
        g_autofree char *gid_map = NULL;

        if (uid == 0 && unshare (CLONE_NEWNS | CLONE_NEWNET) == 0)
                return TRUE;
        if (unshare (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) < 0)
                return FALSE;
        uid_map = g_strdup_printf ("0 %u 1\n", (guint) uid);
        gid_map = g_strdup_printf ("0 %u 1\n", (guint) gid);
        return write_proc ("/proc/self/setgroups", "deny") && write_proc ("/proc/self/uid_map", uid_map) &&
               write_proc ("/proc/self/gid_map", gid_map);
}

static void remove_tree_at (int dirfd, const char *name);

static gboolean made_dir; /* jail_path is a directory we made (and must remove) */

static void
jail_remove (void)
{
        DIR *dir;
        struct dirent *de;

        fuzz_jail_leave ();
        /* jailed, the tmpfs goes with the namespace; else the files are on the disk */
        if (!jailed && jail_fd >= 0 && (dir = fdopendir (dup (jail_fd))) != NULL) {
                rewinddir (dir);
                while ((de = readdir (dir)) != NULL) {
                        if (!g_str_equal (de->d_name, ".") && !g_str_equal (de->d_name, ".."))
                                remove_tree_at (jail_fd, de->d_name);
                }
                closedir (dir);
        }
        if (jailed)
                umount2 (jail_path, MNT_DETACH);
        if (made_dir)
                g_rmdir (jail_path);
}

/* A directory of our own for the mountpoint: the tmpfs over it is seen by this process alone.
 * (Over an existing one such as /mnt, nothing would be left behind after a crash, but a tree
 * that lives below it, as some CI workspaces do, would vanish from the target's view.) */
static gboolean
mount_jail (void)
{
        jail_path = g_dir_make_tmp ("phx-fuzz-XXXXXX", NULL);
        if (jail_path == NULL)
                g_error ("cannot make a temporary directory");
        made_dir = TRUE;
        return mount ("phx-fuzz", jail_path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, JAIL_TMPFS_OPTIONS) == 0;
}

/* Must run while the process has a single thread: namespaces are per thread until then. */
void
fuzz_jail_build (void)
{
        struct statfs sfs;

        atexit (jail_remove);
        if (enter_namespaces () && mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 && mount_jail ()) {
                jailed = TRUE;
        } else {
                g_printerr ("fuzz-agent: no private namespaces (%s): commands on paths and the network are "
                            "disabled\n", g_strerror (errno));
                if (jail_path == NULL) {
                        jail_path = g_dir_make_tmp ("phx-fuzz-XXXXXX", NULL);
                        if (jail_path == NULL)
                                g_error ("cannot make a temporary directory");
                        made_dir = TRUE;
                }
        }
        /* Opened in the new namespace: a root opened before it would lead back to the old
         * one, where the tmpfs is not mounted (the next chroot would land on the disk). */
        real_root_fd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        cwd_fd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (real_root_fd < 0 || cwd_fd < 0)
                g_error ("cannot open / or .: %s", g_strerror (errno));
        jail_fd = open (jail_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (jail_fd < 0)
                g_error ("cannot open %s: %s", jail_path, g_strerror (errno));
        /* the wipe below removes everything in it: it must be the private tmpfs */
        if (jailed && (fstatfs (jail_fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC))
                g_error ("%s is not the private tmpfs", jail_path);
}

static void
remove_tree_at (int dirfd, const char *name)
{
        int fd;
        DIR *dir;
        struct dirent *de;

        if (unlinkat (dirfd, name, 0) == 0 || errno != EISDIR)
                return;
        fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || (dir = fdopendir (fd)) == NULL) {
                if (fd >= 0)
                        close (fd);
                return;
        }
        while ((de = readdir (dir)) != NULL) {
                if (!g_str_equal (de->d_name, ".") && !g_str_equal (de->d_name, ".."))
                        remove_tree_at (fd, de->d_name);
        }
        closedir (dir);
        unlinkat (dirfd, name, AT_REMOVEDIR);
}

static void
seed_file (const char *name, const char *data, gsize len)
{
        int fd = openat (jail_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write (fd, data, len) != (gssize) len)
                fuzz_fail ("cannot write %s/%s: %s", jail_path, name, g_strerror (errno));
        close (fd);
}

/* Each script starts from the same files: whatever the last one made, chmod-ed or
 * replaced is gone. Only ever below jail_fd, in or out of the chroot. */
void
fuzz_jail_reset (void)
{
        static const char small[] = "phoenix-ga fuzz file\n";
        g_autofree char *big = g_strnfill (96 * 1024, 'z');
        DIR *dir;
        struct dirent *de;

        /* our own directory in either case: the private tmpfs, or a fresh mkdtemp */
        fchmod (jail_fd, 0700);
        dir = fdopendir (dup (jail_fd));
        if (dir != NULL)
                rewinddir (dir); /* the dup shares the offset the last wipe left at the end */
        while (dir != NULL && (de = readdir (dir)) != NULL) {
                if (!g_str_equal (de->d_name, ".") && !g_str_equal (de->d_name, ".."))
                        remove_tree_at (jail_fd, de->d_name);
        }
        if (dir != NULL)
                closedir (dir);
        mkdirat (jail_fd, "files", 0755);
        mkdirat (jail_fd, "files/dir", 0755);
        seed_file ("files/small", small, sizeof small - 1);
        seed_file ("files/big", big, 96 * 1024);
        seed_file ("files/empty", "", 0);
}

gboolean
fuzz_jail_is_private (void)
{
        return jailed;
}

const char *
fuzz_jail_path (void)
{
        return jail_path;
}

/* A crash must not leave the mountpoint behind either: undone from the signal (system calls
 * only), then the signal is raised again with its default action. Only for the replay: under
 * libFuzzer the sanitizers own these signals. */
static void
on_crash (int sig)
{
        fuzz_jail_leave ();
        if (jailed)
                umount2 (jail_path, MNT_DETACH);
        if (made_dir)
                rmdir (jail_path);
        raise (sig);
}

void
fuzz_jail_clean_on_crash (void)
{
        static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
        struct sigaction sa = { .sa_handler = on_crash, .sa_flags = SA_RESETHAND | SA_NODEFER };

        for (guint i = 0; i < G_N_ELEMENTS (sigs); i++)
                sigaction (sigs[i], &sa, NULL);
}
