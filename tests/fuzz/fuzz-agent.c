/* Fuzz target: the real PhxAgent — channel, connections, dispatcher, families, budget — on a
 * unix socket in this process, driven by a script of host actions (connect, send, half-close,
 * leave, stop reading), with a fake freeze backend. After each script every host is gone and
 * the agent must come to rest: every request answered, the budget back to zero, no connection
 * left, and the fake's frozen set agreeing with the agent. Built for libFuzzer with
 * -Dfuzzing=true; otherwise main() replays the corpus as an ordinary test.
 *
 * The script, one action per byte (any other byte is skipped, so every input is a script):
 *   l        send the script's bytes up to and including its next '\n' (a request line)
 *   b N      send the next N bytes (N: one byte) as they are: partial lines, split writes
 *   L K X    send K x 4 KiB of byte X: the body of a large or an over-long line
 *   w        wait until every request is answered (or nothing moves for a while)
 *   p        let the loop and the workers run for about a millisecond
 *   s / r    this host stops / resumes reading its replies (the budget fills)
 *   h        this host shuts down its sending side; it still reads its replies
 *   x        this host leaves (closes its socket, whatever is owed)
 *   c        this host leaves and the next one takes over;  n  the next one takes over and
 *            this one stays (it waits in the backlog: one host is served at a time)
 *   o        switch back to the oldest host still there
 *   F        the next FIFREEZE of the fake fails (EIO): the freeze is rolled back
 * agent-shutdown ends the script as if the process exited on "shutdown".
 *
 * Keeping the machine safe: the agent runs as root and its commands take absolute paths, so
 * the whole agent runs, for the length of each script, chrooted into a private tmpfs in a
 * private mount and network namespace (no /proc, no /dev, only lo). Every command may then
 * run: paths end up in the tmpfs, addresses and routes in the private namespace. The agent is
 * made before the chroot (it needs /proc to set its socket's mode) and the hosts connect then
 * too (they wait in the backlog until the script takes them); the chroot is left only once
 * the agent is at rest, so no worker ever resolves a path outside it. The working directory
 * stays outside, which is why libFuzzer's artifact and corpus paths must be relative; the
 * agent only takes absolute paths. Without privileges for the namespaces (neither root nor
 * user namespaces), the commands that touch paths or the network are disabled instead. */
#define G_LOG_DOMAIN "fuzz-agent"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <dirent.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "phx-agent.h"
#include "phx-budget.h"
#include "phx-dispatcher.h"
#include "phx-freeze.h"
#include "phx-limits.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* Above the offload threshold, so large lines go to the parse worker and over-long ones still
 * cost only half a megabyte. */
#define REQUEST_MAX ((gsize) 512 * 1024)
G_STATIC_ASSERT (REQUEST_MAX > PHX_REQUEST_OFFLOAD_MIN);
#define LONG_UNIT ((gsize) 4096)
/* Bytes one script may send at most (its 'L's add up fast). */
#define SCRIPT_SEND_MAX ((gsize) 8 * 1024 * 1024)
/* Hosts connected per script: the agent serves one and keeps PHX_LISTEN_BACKLOG waiting. */
#define HOSTS_MAX 4
G_STATIC_ASSERT (HOSTS_MAX <= PHX_LISTEN_BACKLOG);
/* A wait or a blocked send gives up once nothing has moved for this long. */
#define PATIENCE_US ((gint64) 20 * 1000)
/* After the script, the agent must be at rest within this: else it hangs. */
#define REST_DEADLINE_US ((gint64) 10 * 1000 * 1000)
/* Replies at most this long are parsed whole; longer ones only checked at their ends. */
#define REPLY_PARSE_MAX ((gsize) 1024 * 1024)
/* The jail's tmpfs: files the scripts write, and a bound on them. */
#define JAIL_TMPFS_OPTIONS "size=16m,nr_inodes=4096,mode=0700"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* ---- The jail ---- */

static char *jail_path;         /* the private tmpfs, as seen from outside */
static int jail_fd = -1;        /* the same, for the wipe (works in or out of the chroot) */
static int real_root_fd = -1;
static int cwd_fd = -1;
static gboolean jailed;         /* a private tmpfs and namespaces exist */
static gboolean in_jail;

static void
jail_leave (void)
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
#define FAIL(...)                                                                                  \
        G_STMT_START {                                                                             \
                jail_remove ();                                                                    \
                g_printerr ("fuzz-agent: " __VA_ARGS__);                                           \
                g_printerr ("\n");                                                                 \
                abort ();                                                                          \
        } G_STMT_END

static void
jail_enter (void)
{
        struct statfs sfs;

        if (!jailed)
                return;
        if (chroot (jail_path) < 0)
                FAIL ("chroot %s: %s", jail_path, g_strerror (errno));
        in_jail = TRUE;
        if (statfs ("/", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
                FAIL ("the chroot at %s is not the private tmpfs", jail_path);
}

/* ASan calls this before it prints a report: leave the chroot so that the report can be
 * symbolized (the symbolizer and /proc are outside). */
void __asan_on_error (void);
void
__asan_on_error (void)
{
        jail_leave ();
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

        jail_leave ();
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
static void
jail_build (void)
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
                FAIL ("cannot write %s/%s: %s", jail_path, name, g_strerror (errno));
        close (fd);
}

/* Each script starts from the same files: whatever the last one made, chmod-ed or
 * replaced is gone. Only ever below jail_fd, in or out of the chroot. */
static void
jail_reset (void)
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

/* ---- What the agent keeps to itself, seen through the linker's --wrap (tests/meson.build):
 * its budget and dispatcher (to check they are back at rest) and its connections (to check
 * none outlives its host). The calls go on to the real functions unchanged: the budget keeps
 * its real marks, since a smaller high mark than a file-read's largest reply would hold such
 * a read for ever (it could never fit), which the agent's real marks rule out. ---- */

PhxBudget *__real_phx_budget_new (gsize high, gsize low);
PhxBudget *__wrap_phx_budget_new (gsize high, gsize low);
PhxDispatcher *__real_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezer *freezer,
                                          PhxBudget *budget);
PhxDispatcher *__wrap_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezer *freezer,
                                          PhxBudget *budget);
PhxConnection *__real_phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget);
PhxConnection *__wrap_phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget);

static PhxBudget *seen_budget;         /* weak */
static PhxDispatcher *seen_dispatcher; /* weak */
static guint live_connections;

PhxBudget *
__wrap_phx_budget_new (gsize high, gsize low)
{
        PhxBudget *budget = __real_phx_budget_new (high, low);

        seen_budget = budget;
        g_object_add_weak_pointer (G_OBJECT (budget), (gpointer *) &seen_budget);
        return budget;
}

PhxDispatcher *
__wrap_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezer *freezer, PhxBudget *budget)
{
        PhxDispatcher *dispatcher = __real_phx_dispatcher_new (registry, families, freezer, budget);

        seen_dispatcher = dispatcher;
        g_object_add_weak_pointer (G_OBJECT (dispatcher), (gpointer *) &seen_dispatcher);
        return dispatcher;
}

static void
connection_gone (gpointer data, GObject *where)
{
        live_connections--;
}

PhxConnection *
__wrap_phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget)
{
        PhxConnection *conn = __real_phx_connection_new (fd, is_socket, max_line, budget);

        live_connections++;
        g_object_weak_ref (G_OBJECT (conn), connection_gone, NULL);
        return conn;
}

/* ---- The fake freeze backend: two mountpoints that exist nowhere; FIFREEZE and FITHAW
 * answer as the kernel would (EBUSY when frozen twice, EINVAL when not frozen). ---- */

typedef struct {
        GMutex lock;
        GHashTable *frozen;
        gboolean fail_next;
} Fake;

static Fake fake;

static GPtrArray *
fake_list (gpointer data, GError **error)
{
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        g_ptr_array_add (out, g_strdup ("/a"));
        g_ptr_array_add (out, g_strdup ("/b"));
        return out;
}

static int
fake_freeze (const char *mp, gpointer data)
{
        int ret = 0;

        g_mutex_lock (&fake.lock);
        if (fake.fail_next) {
                fake.fail_next = FALSE;
                ret = EIO;
        } else if (!g_hash_table_add (fake.frozen, g_strdup (mp))) {
                ret = EBUSY;
        }
        g_mutex_unlock (&fake.lock);
        return ret;
}

static int
fake_thaw (const char *mp, gpointer data)
{
        int ret;

        g_mutex_lock (&fake.lock);
        ret = g_hash_table_remove (fake.frozen, mp) ? 0 : EINVAL;
        g_mutex_unlock (&fake.lock);
        return ret;
}

static guint
fake_frozen_count (void)
{
        guint n;

        g_mutex_lock (&fake.lock);
        n = g_hash_table_size (fake.frozen);
        g_mutex_unlock (&fake.lock);
        return n;
}

static const PhxFreezeBackend fake_backend = { fake_list, fake_freeze, fake_thaw, NULL };

/* ---- Hosts ---- */

typedef struct {
        int fd;                 /* -1 once it left */
        gboolean used;          /* the script took it */
        gboolean half_closed;
        gboolean not_reading;
        gboolean eof;           /* the agent ended the stream */
        gsize line_len;         /* the line being sent: raw length, and whether it is blank */
        gboolean line_blank;
        guint requests;         /* lines sent that must each get one reply */
        guint replies;
        GString *in;            /* an incomplete reply */
} Host;

static Host hosts[HOSTS_MAX];
static int verbose; /* PHX_FUZZ_VERBOSE: 1 a line per script, 2 also every reply */
static guint current;
static PhxAgent *agent;
static gboolean shutdown_seen, shutdown_thawed;

static gboolean
is_blank (char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

/* The framer's rule: a line is answered once if it is over the limit or not blank. */
static void
count_requests (Host *h, const char *data, gsize len)
{
        while (len > 0) {
                const char *nl = memchr (data, '\n', len);
                gsize take = nl != NULL ? (gsize) (nl - data) : len;

                for (gsize i = 0; i < take && h->line_blank; i++)
                        h->line_blank = is_blank (data[i]);
                h->line_len += take;
                if (nl == NULL)
                        return;
                if (h->line_len > REQUEST_MAX || !h->line_blank)
                        h->requests++;
                h->line_len = 0;
                h->line_blank = TRUE;
                data += take + 1;
                len -= take + 1;
        }
}

static void
check_reply (const char *line, gsize len)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) error = NULL;
        JsonNode *root;
        JsonObject *obj;

        if (len > REPLY_PARSE_MAX) {
                if (line[0] != '{' || line[len - 1] != '}')
                        FAIL ("a reply of %" G_GSIZE_FORMAT " bytes is not a JSON object", len);
                return;
        }
        parser = json_parser_new_immutable ();
        if (!json_parser_load_from_data (parser, line, (gssize) len, &error))
                FAIL ("a reply is not JSON (%s): %.*s", error->message, (int) MIN (len, 300), line);
        root = json_parser_get_root (parser);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
                FAIL ("a reply is not an object: %.*s", (int) MIN (len, 300), line);
        obj = json_node_get_object (root);
        if (json_object_has_member (obj, "return") == json_object_has_member (obj, "error"))
                FAIL ("a reply has neither or both of return and error: %.*s", (int) MIN (len, 300), line);
}

static void
take_replies (Host *h, const char *data, gsize len)
{
        gsize start = 0;

        g_string_append_len (h->in, data, len);
        for (gsize i = h->in->len - len; i < h->in->len; i++) {
                if (h->in->str[i] != '\n')
                        continue;
                check_reply (h->in->str + start, i - start);
                if (verbose > 1)
                        g_printerr ("fuzz-agent: <- %.*s\n", (int) MIN (i - start, 200), h->in->str + start);
                h->replies++;
                start = i + 1;
        }
        g_string_erase (h->in, 0, start);
}

/* Reads what the agent sent this host, if it reads; TRUE if anything came. */
static gboolean
host_read (Host *h)
{
        static char buf[64 * 1024];
        gboolean got = FALSE;

        while (h->fd >= 0 && !h->eof && !h->not_reading) {
                ssize_t n = recv (h->fd, buf, sizeof buf, MSG_DONTWAIT);

                if (n > 0) {
                        take_replies (h, buf, n);
                        got = TRUE;
                } else if (n < 0 && errno == EINTR) {
                        continue;
                } else if (n < 0 && errno == EAGAIN) {
                        break;
                } else {
                        h->eof = TRUE; /* end of stream, or reset by the agent */
                        got = TRUE;
                }
        }
        return got;
}

/* One round of the agent's loop and of every reading host; TRUE if anything happened. */
static gboolean
pump (void)
{
        gboolean progress = FALSE;

        for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
                progress = TRUE;
        for (guint i = 0; i < HOSTS_MAX; i++)
                progress |= host_read (&hosts[i]);
        return progress;
}

static gboolean
agent_idle (void)
{
        return phx_dispatcher_get_unanswered (seen_dispatcher) == 0 && !g_main_context_pending (NULL);
}

/* Until every request is answered, or nothing moved for PATIENCE_US (a host that does not
 * read can hold the agent up for ever; that is the agent's right). */
static void
wait_idle (void)
{
        gint64 last = g_get_monotonic_time ();

        while (!agent_idle ()) {
                if (pump ())
                        last = g_get_monotonic_time ();
                else if (g_get_monotonic_time () - last > PATIENCE_US)
                        return;
                else
                        g_usleep (20);
        }
}

static void
pause_1ms (void)
{
        gint64 end = g_get_monotonic_time () + 1000;

        while (g_get_monotonic_time () < end) {
                if (!pump ())
                        g_usleep (50);
        }
}

static gsize sent_total;

/* Sends what the socket takes; a host that cannot send for PATIENCE_US (the agent stopped
 * reading: its budget is full, or it serves another host) gives up the rest. */
static void
host_send (Host *h, const char *data, gsize len)
{
        gint64 last = g_get_monotonic_time ();

        len = MIN (len, SCRIPT_SEND_MAX - sent_total);
        while (len > 0 && h->fd >= 0 && !h->half_closed) {
                ssize_t n = send (h->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n > 0) {
                        count_requests (h, data, n);
                        sent_total += n;
                        data += n;
                        len -= n;
                        last = g_get_monotonic_time ();
                } else if (n < 0 && errno == EINTR) {
                        continue;
                } else if (n < 0 && errno == EAGAIN) {
                        if (pump ())
                                last = g_get_monotonic_time ();
                        else if (g_get_monotonic_time () - last > PATIENCE_US)
                                return;
                        else
                                g_usleep (20);
                } else {
                        return; /* the agent closed it */
                }
        }
}

static void
host_send_filler (Host *h, gsize len, char byte)
{
        static char buf[64 * 1024];

        memset (buf, byte, sizeof buf);
        while (len > 0 && h->fd >= 0 && !h->half_closed && sent_total < SCRIPT_SEND_MAX) {
                gsize n = MIN (len, sizeof buf);
                gsize before = sent_total;

                host_send (h, buf, n);
                if (sent_total - before < n)
                        return;
                len -= n;
        }
}

static void
host_close (Host *h)
{
        if (h->fd >= 0)
                close (h->fd);
        h->fd = -1;
}

/* The host after `from` that is still there (the pool is in connection order). */
static guint
next_host (guint from)
{
        for (guint i = from + 1; i < HOSTS_MAX; i++) {
                if (hosts[i].fd >= 0)
                        return i;
        }
        return from;
}

static void
run_script (const guint8 *data, size_t size)
{
        size_t i = 0;

        while (i < size && !shutdown_seen) {
                Host *h = &hosts[current];
                guint8 op = data[i++];

                h->used = TRUE;
                switch (op) {
                case 'l': {
                        const guint8 *nl = memchr (data + i, '\n', size - i);
                        size_t n = nl != NULL ? (size_t) (nl - (data + i)) + 1 : size - i;
                        host_send (h, (const char *) data + i, n);
                        i += n;
                        break;
                }
                case 'b': {
                        size_t n = i < size ? MIN (data[i], size - i - 1) : 0;
                        if (i < size)
                                host_send (h, (const char *) data + i + 1, n);
                        i += n + 1;
                        break;
                }
                case 'L':
                        if (i + 2 <= size)
                                host_send_filler (h, data[i] * LONG_UNIT, (char) data[i + 1]);
                        i += 2;
                        break;
                case 'w':
                        wait_idle ();
                        break;
                case 'p':
                        pause_1ms ();
                        break;
                case 's':
                        h->not_reading = TRUE;
                        break;
                case 'r':
                        h->not_reading = FALSE;
                        host_read (h);
                        break;
                case 'h':
                        if (h->fd >= 0 && !h->half_closed)
                                shutdown (h->fd, SHUT_WR);
                        h->half_closed = TRUE;
                        break;
                case 'x':
                        host_close (h);
                        break;
                case 'c':
                        host_close (h);
                        current = next_host (current);
                        break;
                case 'n':
                        current = next_host (current);
                        break;
                case 'o':
                        current = hosts[0].fd >= 0 ? 0 : next_host (0);
                        break;
                case 'F':
                        g_mutex_lock (&fake.lock);
                        fake.fail_next = TRUE;
                        g_mutex_unlock (&fake.lock);
                        break;
                default:
                        break;
                }
        }
}

static void
on_shutdown (PhxAgent *self, gboolean thawed, gpointer user_data)
{
        shutdown_seen = TRUE;
        shutdown_thawed = thawed;
}

static guint exhausted_count; /* for the verbose report */

static void
on_exhausted (PhxBudget *budget, GParamSpec *pspec, gpointer user_data)
{
        exhausted_count += phx_budget_get_exhausted (budget);
}

static char *
jail_child (const char *name)
{
        return g_build_filename (jail_path, name, NULL);
}

/* A fresh agent for each script, so that no script depends on the ones before: the same
 * options main.c would give it, but for the fake backend and the small request limit. */
static void
agent_start (void)
{
        /* Jailed, everything may run (paths end in the tmpfs, the network is private); one
         * harmless command is off so the disabled path is reached. Not jailed, nothing that
         * names a path or touches the network: file-open is off, so handles exist only as
         * numbers the host made up. */
        static const char *const jailed_block[] = { "sysinfo", NULL };
        static const char *const unjailed_allow[] = { "ping", "get-commands", "agent-shutdown", "fs-freeze",
                                                      "fs-unfreeze", "get-freeze-status", "file-read",
                                                      "file-write", "file-close", NULL };
        g_autofree char *sock = jail_child ("agent.sock");
        g_autofree char *run = jail_child ("run");
        g_autoptr(GError) error = NULL;
        PhxAgentOptions options = { 0 };

        jail_reset ();
        g_mutex_lock (&fake.lock);
        g_hash_table_remove_all (fake.frozen);
        fake.fail_next = FALSE;
        g_mutex_unlock (&fake.lock);

        options.method = PHX_METHOD_UNIX_LISTEN;
        options.path = sock;
        options.runtime_dir = run;
        options.dbus = FALSE;
        options.freeze_backend = &fake_backend;
        options.request_max = REQUEST_MAX;
        options.allow_commands = jailed ? NULL : unjailed_allow;
        options.block_commands = jailed ? jailed_block : NULL;
        agent = phx_agent_new (&options, &error);
        if (agent == NULL)
                FAIL ("cannot start the agent: %s", error->message);
        g_signal_connect (agent, "shutdown", G_CALLBACK (on_shutdown), NULL);
        g_signal_connect (seen_budget, "notify::exhausted", G_CALLBACK (on_exhausted), NULL);
        exhausted_count = 0;
        shutdown_seen = FALSE;
        sent_total = 0;

        /* Every host connects now, outside the chroot; the agent accepts them one at a time. */
        for (guint i = 0; i < HOSTS_MAX; i++) {
                struct sockaddr_un addr = { .sun_family = AF_UNIX };
                Host *h = &hosts[i];

                g_strlcpy (addr.sun_path, sock, sizeof addr.sun_path);
                h->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (h->fd < 0 || connect (h->fd, (struct sockaddr *) &addr, sizeof addr) < 0)
                        FAIL ("cannot connect to %s: %s", sock, g_strerror (errno));
                h->used = h->half_closed = h->not_reading = h->eof = FALSE;
                h->line_len = 0;
                h->line_blank = TRUE;
                h->requests = h->replies = 0;
                if (h->in == NULL)
                        h->in = g_string_new (NULL);
                g_string_truncate (h->in, 0);
        }
        current = 0;
}

static gboolean
agent_frozen (void)
{
        gboolean frozen;

        g_object_get (agent, "frozen", &frozen, NULL);
        return frozen;
}

static gboolean
agent_host_connected (void)
{
        gboolean connected;

        g_object_get (agent, "host-connected", &connected, NULL);
        return connected;
}

/* Every host leaves — one that half-closed reads to the end of its stream first, and must
 * have had exactly one reply per request — and the agent must come to rest. */
static void
agent_finish (void)
{
        gint64 deadline = g_get_monotonic_time () + REST_DEADLINE_US;

        /* in connection order: the next host is served only once the one before has gone */
        for (guint i = 0; i < HOSTS_MAX; i++) {
                Host *h = &hosts[i];

                if (h->fd >= 0 && h->used && h->half_closed) {
                        h->not_reading = FALSE;
                        while (!h->eof) {
                                if (g_get_monotonic_time () > deadline)
                                        FAIL ("host %u half-closed after %u requests: %u replies and no end "
                                              "of stream after %" G_GINT64_FORMAT " s (unanswered %u, budget %"
                                              G_GSIZE_FORMAT ")", i, h->requests, h->replies,
                                              REST_DEADLINE_US / G_USEC_PER_SEC,
                                              phx_dispatcher_get_unanswered (seen_dispatcher),
                                              phx_budget_get_used (seen_budget));
                                if (!pump ())
                                        g_usleep (20);
                        }
                        if (h->replies != h->requests)
                                FAIL ("host %u sent %u requests and got %u replies", i, h->requests, h->replies);
                }
                host_close (h);
        }
        while (!agent_idle () || live_connections > 0) {
                if (g_get_monotonic_time () > deadline)
                        FAIL ("not at rest %" G_GINT64_FORMAT " s after every host left: unanswered %u, "
                              "connections %u, budget %" G_GSIZE_FORMAT, REST_DEADLINE_US / G_USEC_PER_SEC,
                              phx_dispatcher_get_unanswered (seen_dispatcher), live_connections,
                              phx_budget_get_used (seen_budget));
                if (!pump ())
                        g_usleep (20);
        }
        /* A worker drops its task (and with it a reference to the dispatcher) just after the
         * result reached the loop: wait for that, so that the agent is dropped on this thread. */
        while (G_OBJECT (seen_dispatcher)->ref_count > 1) {
                if (g_get_monotonic_time () > deadline)
                        FAIL ("at rest, the dispatcher still has %u references",
                              G_OBJECT (seen_dispatcher)->ref_count);
                g_usleep (20);
        }
        if (phx_budget_get_used (seen_budget) != 0)
                FAIL ("at rest, the budget still holds %" G_GSIZE_FORMAT " bytes", phx_budget_get_used (seen_budget));
        if (agent_host_connected ())
                FAIL ("at rest, with every host gone, host-connected is still TRUE");
        /* the fake lists two mounts: frozen is both or none */
        if (fake_frozen_count () != (agent_frozen () ? 2u : 0u))
                FAIL ("the agent says %s, the fake has %u mounts frozen", agent_frozen () ? "frozen" : "thawed",
                      fake_frozen_count ());
        /* main.c exits on "shutdown": whatever is frozen after it stays frozen */
        if (shutdown_seen && (!shutdown_thawed || fake_frozen_count () > 0))
                FAIL ("after \"shutdown\" (thawed: %d) the fake has %u mounts frozen", shutdown_thawed,
                      fake_frozen_count ());
}

/* To see what a corpus input reaches. */
static void
report (void)
{
        guint64 served, failed;

        if (verbose == 0)
                return;
        g_object_get (agent, "commands-served", &served, "commands-failed", &failed, NULL);
        g_printerr ("fuzz-agent: served %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " failed), sent %" G_GSIZE_FORMAT
                    " bytes, budget exhausted %u times, shutdown %d, frozen %d;", served, failed, sent_total,
                    exhausted_count, shutdown_seen, agent_frozen ());
        for (guint i = 0; i < HOSTS_MAX; i++) {
                if (hosts[i].used)
                        g_printerr (" host %u: %u requests, %u replies%s;", i, hosts[i].requests, hosts[i].replies,
                                    hosts[i].half_closed ? " (half-closed)" : "");
        }
        g_printerr ("\n");
}

static void
agent_stop (void)
{
        report ();
        g_clear_object (&agent);
        while (g_main_context_iteration (NULL, FALSE))
                ;
        if (seen_dispatcher != NULL || seen_budget != NULL || live_connections > 0)
                FAIL ("the agent is gone but not its parts: dispatcher %p, budget %p, %u connections",
                      (gpointer) seen_dispatcher, (gpointer) seen_budget, live_connections);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
        agent_start ();
        jail_enter ();
        run_script (data, size);
        agent_finish ();
        /* at rest: no worker is inside a command any more */
        jail_leave ();
        agent_stop ();
        return 0;
}

/* Debug and info lines (one per failed command) are dropped: the fuzzer would spend its time
 * printing them. A critical (a programmer error in the agent) aborts, out of the chroot so
 * that the trace can be symbolized. */
static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
        if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE))
                return G_LOG_WRITER_HANDLED;
        if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL))
                jail_leave ();
        return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
setup (void)
{
        verbose = atoi (g_getenv ("PHX_FUZZ_VERBOSE") != NULL ? g_getenv ("PHX_FUZZ_VERBOSE") : "0");
        g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
        g_log_set_writer_func (log_writer, NULL, NULL);
        g_mutex_init (&fake.lock);
        fake.frozen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        jail_build ();
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
        setup ();
        return 0;
}

#ifndef PHX_LIBFUZZER
static gboolean
replay_file (const char *path)
{
        g_autofree char *data = NULL;
        gsize len;

        if (!g_file_get_contents (path, &data, &len, NULL))
                return FALSE;
        LLVMFuzzerTestOneInput ((const guint8 *) data, len);
        return TRUE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
        return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Arguments are corpus directories or single inputs (a reproducer). */
int
main (int argc, char **argv)
{
        guint n = 0;

        setup ();
        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) dir = NULL;
                g_autoptr(GPtrArray) names = NULL;
                const char *name;

                if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
                        if (!replay_file (argv[i])) {
                                g_printerr ("cannot read %s\n", argv[i]);
                                return 1;
                        }
                        n++;
                        continue;
                }
                dir = g_dir_open (argv[i], 0, NULL);
                if (dir == NULL) {
                        g_printerr ("cannot open corpus %s\n", argv[i]);
                        return 1;
                }
                names = g_ptr_array_new_with_free_func (g_free);
                while ((name = g_dir_read_name (dir)) != NULL)
                        g_ptr_array_add (names, g_strdup (name));
                /* the same order everywhere, so a failure is the same failure */
                g_ptr_array_sort (names, compare_names);
                for (guint j = 0; j < names->len; j++) {
                        g_autofree char *path = g_build_filename (argv[i], g_ptr_array_index (names, j), NULL);
                        if (!replay_file (path)) {
                                g_printerr ("cannot read %s\n", path);
                                return 1;
                        }
                        n++;
                }
        }
        g_print ("replayed %u inputs\n", n);
        return n > 0 ? 0 : 1;
}
#endif
