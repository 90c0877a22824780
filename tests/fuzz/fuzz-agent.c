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
 *            this one stays (both are served at once: several clients, issue 14)
 *   o        switch back to the oldest host still there
 *   F        the next FIFREEZE of the fake fails (EIO): the freeze is rolled back
 * agent-shutdown ends the script as if the process exited on "shutdown".
 *
 * Keeping the machine safe: the agent runs as root, so for the length of each script it runs
 * chrooted in a private tmpfs in private namespaces (fuzz-jail.c), where every command may
 * run. The agent is made before the chroot (setting its socket's mode needs /proc) and the
 * hosts connect then too (they are accepted at once and idle until the script uses them); the chroot
 * is left only once the agent is at rest, so no worker ever resolves a path outside it. */
#define G_LOG_DOMAIN "fuzz-agent"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "phx-agent.h"
#include "phx-budget.h"
#include "phx-dispatcher.h"
#include "phx-freeze-backend.h"
#include "phx-limits.h"
#include "phx-qga.h"

#include "fuzz-jail.h"

/* Above the offload threshold, so large lines go to the parse worker and over-long ones still
 * cost only half a megabyte. */
#define REQUEST_MAX ((gsize) 512 * 1024)
G_STATIC_ASSERT (REQUEST_MAX > PHX_REQUEST_OFFLOAD_MIN);
#define LONG_UNIT ((gsize) 4096)
/* Bytes one script may send at most (its 'L's add up fast). */
#define SCRIPT_SEND_MAX ((gsize) 8 * 1024 * 1024)
/* Hosts connected per script: all are served at once (within PHX_CLIENTS_DEFAULT). */
#define HOSTS_MAX 4
G_STATIC_ASSERT (HOSTS_MAX <= PHX_LISTEN_BACKLOG && HOSTS_MAX <= PHX_CLIENTS_DEFAULT);
/* A wait or a blocked send gives up once nothing has moved for this long. */
#define PATIENCE_US ((gint64) 20 * 1000)
/* After the script, the agent must be at rest within this: else it hangs. */
#define REST_DEADLINE_US ((gint64) 10 * 1000 * 1000)
/* Replies at most this long are parsed whole; longer ones only checked at their ends. */
#define REPLY_PARSE_MAX ((gsize) 1024 * 1024)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* ---- What the agent keeps to itself, seen through the linker's --wrap (tests/meson.build):
 * its budget and dispatcher (to check they are back at rest) and its connections (to check
 * none outlives its host). The calls go on to the real functions unchanged: the budget keeps
 * its real marks, since a smaller high mark than a file-read's largest reply would hold such
 * a read for ever (it could never fit), which the agent's real marks rule out. ---- */

PhxBudget *__real_phx_budget_new (gsize high, gsize low);
PhxBudget *__wrap_phx_budget_new (gsize high, gsize low);
PhxDispatcher *__real_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezeState *freezer,
                                          PhxBudget *budget);
PhxDispatcher *__wrap_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezeState *freezer,
                                          PhxBudget *budget);
PhxConnection *__real_phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget);
PhxConnection *__wrap_phx_connection_new (int fd, gboolean is_socket, gsize max_line, PhxBudget *budget);

typedef struct {
        int fd;                 /* -1 once it left */
        gboolean used;          /* the script took it */
        gboolean half_closed;
        gboolean not_reading;
        gboolean eof;           /* the agent ended the stream */
        gsize line_len;         /* the line being sent: raw length, and whether it is blank */
        gboolean line_blank;
        guint requests;         /* lines sent that must each get one reply */
        gboolean sent_ff;       /* a 0xFF byte went out: qemu-ga's resync may tear a line in two */
        gboolean sent_qga_mark; /* a qemu-ga name or an "id" went out: qemu-ga framing may join or split lines */
        char tail[16];          /* the last bytes sent, to see a mark across two sends */
        guint frames;           /* requests the agent framed on this host's connection */
        guint replies;
        GString *in;            /* an incomplete reply */
} Host;
/* a mark split over two sends is seen (the longest mark, less a byte, fits the tail) */
G_STATIC_ASSERT (sizeof ((Host *) 0)->tail >= sizeof PHX_QGA_EXTENSION_PREFIX - 1);

static Host hosts[HOSTS_MAX];

static PhxBudget *seen_budget;         /* weak */
static PhxDispatcher *seen_dispatcher; /* weak */
static guint live_connections;
static guint connections_made;         /* this script's: the n-th is hosts[n] (accept order) */

PhxBudget *
__wrap_phx_budget_new (gsize high, gsize low)
{
        PhxBudget *budget = __real_phx_budget_new (high, low);

        seen_budget = budget;
        g_object_add_weak_pointer (G_OBJECT (budget), (gpointer *) &seen_budget);
        return budget;
}

PhxDispatcher *
__wrap_phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezeState *freezer, PhxBudget *budget)
{
        PhxDispatcher *dispatcher = __real_phx_dispatcher_new (registry, families, freezer, budget);

        seen_dispatcher = dispatcher;
        g_object_add_weak_pointer (G_OBJECT (dispatcher), (gpointer *) &seen_dispatcher);
        return dispatcher;
}

/* Each request the connection framed, whatever its dialect: each must get one reply. */
static void
on_line (PhxConnection *conn, GBytes *line, Host *h)
{
        h->frames++;
}

static void
on_overlong (PhxConnection *conn, guint64 max_line, Host *h)
{
        h->frames++;
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
        /* the hosts connect in order and the listener accepts in order */
        if (connections_made < HOSTS_MAX) {
                g_signal_connect (conn, "line", G_CALLBACK (on_line), &hosts[connections_made]);
                g_signal_connect (conn, "overlong", G_CALLBACK (on_overlong), &hosts[connections_made]);
        }
        connections_made++;
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
        /* what makes the framer read a request as qemu-ga's (doc/protocol.md, "Which
         * dialect a request is in"): a qemu-ga name ("guest-", or this agent's extensions'
         * prefix), or an "id" member */
        static const char *const marks[] = { PHX_QGA_NAME_PREFIX, PHX_QGA_EXTENSION_PREFIX, "\"id\"", "'id'" };
        char joined[sizeof h->tail + 64];
        gsize head = MIN (len, (gsize) 64);

        if (memchr (data, 0xff, len) != NULL)
                h->sent_ff = TRUE;
        /* a mark within this send, or across the last one and this */
        memcpy (joined, h->tail, sizeof h->tail);
        memcpy (joined + sizeof h->tail, data, head);
        for (guint i = 0; i < G_N_ELEMENTS (marks); i++) {
                gsize n = strlen (marks[i]);

                if (memmem (joined, sizeof h->tail + head, marks[i], n) != NULL || memmem (data, len, marks[i], n) != NULL)
                        h->sent_qga_mark = TRUE;
        }
        if (len >= sizeof h->tail) {
                memcpy (h->tail, data + len - sizeof h->tail, sizeof h->tail);
        } else {
                memmove (h->tail, h->tail + len, sizeof h->tail - len);
                memcpy (h->tail + sizeof h->tail - len, data, len);
        }
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
                        fuzz_fail ("a reply of %" G_GSIZE_FORMAT " bytes is not a JSON object", len);
                return;
        }
        parser = json_parser_new_immutable ();
        if (!json_parser_load_from_data (parser, line, (gssize) len, &error))
                fuzz_fail ("a reply is not JSON (%s): %.*s", error->message, (int) MIN (len, 300), line);
        root = json_parser_get_root (parser);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
                fuzz_fail ("a reply is not an object: %.*s", (int) MIN (len, 300), line);
        obj = json_node_get_object (root);
        if (json_object_has_member (obj, "return") == json_object_has_member (obj, "error"))
                fuzz_fail ("a reply has neither or both of return and error: %.*s", (int) MIN (len, 300), line);
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
        return g_build_filename (fuzz_jail_path (), name, NULL);
}

/* A fresh agent for each script, so that no script depends on the ones before: the same
 * options main.c would give it, but for the fake backend and the small request limit. */
static void
agent_start (void)
{
        /* Jailed, everything may run (paths end in the tmpfs, the network is private) but
         * what reaches beyond the jail: running programs (a fuzzer that wrote one could run
         * it as root), and what changes the machine itself (its clock, CPUs, memory, power).
         * One harmless command is off so the disabled path is reached. Not jailed, nothing
         * that names a path or touches the network: file-open is off, so handles exist only
         * as numbers the host made up. */
        static const char *const jailed_block[] = { "sysinfo", "exec", "exec-kill", "guest-exec",
                                                    "guest-set-time", "system-shutdown", "guest-shutdown",
                                                    "guest-suspend-ram", "guest-suspend-disk",
                                                    "guest-suspend-hybrid", "guest-fstrim", "guest-set-vcpus",
                                                    "guest-set-memory-blocks", NULL };
        static const char *const unjailed_allow[] = { "ping", "get-commands", "agent-shutdown", "fs-freeze",
                                                      "fs-unfreeze", "get-freeze-status", "file-read",
                                                      "file-write", "file-close", NULL };
        g_autofree char *sock = jail_child ("agent.sock");
        g_autofree char *run = jail_child ("run");
        g_autoptr(GError) error = NULL;
        PhxAgentOptions options = { 0 };

        fuzz_jail_reset ();
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
        options.allow_commands = fuzz_jail_is_private () ? NULL : unjailed_allow;
        options.block_commands = fuzz_jail_is_private () ? jailed_block : NULL;
        agent = phx_agent_new (&options, &error);
        if (agent == NULL)
                fuzz_fail ("cannot start the agent: %s", error->message);
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
                        fuzz_fail ("cannot connect to %s: %s", sock, g_strerror (errno));
                h->used = h->half_closed = h->not_reading = h->eof = FALSE;
                h->line_len = 0;
                h->line_blank = TRUE;
                h->requests = h->replies = h->frames = 0;
                h->sent_ff = h->sent_qga_mark = FALSE;
                memset (h->tail, 0, sizeof h->tail);
                if (h->in == NULL)
                        h->in = g_string_new (NULL);
                g_string_truncate (h->in, 0);
        }
        current = 0;
        connections_made = 0;
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
        gint64 deadline;

        /* an agent-shutdown sent in the last bytes takes effect first (its exit thaw, then
         * "shutdown"): from its request on, the agent takes nothing more from any host */
        wait_idle ();
        deadline = g_get_monotonic_time () + REST_DEADLINE_US;

        /* in connection order: the next host is served only once the one before has gone */
        for (guint i = 0; i < HOSTS_MAX; i++) {
                Host *h = &hosts[i];

                /* After "shutdown" the process would be gone (main.c exits on it): the agent
                 * takes nothing more, so a host that half-closed since gets no end of stream
                 * from it, only the exit's. */
                if (h->fd >= 0 && h->used && h->half_closed && !shutdown_seen) {
                        h->not_reading = FALSE;
                        while (!h->eof) {
                                if (g_get_monotonic_time () > deadline)
                                        fuzz_fail ("host %u half-closed after %u requests: %u replies and no end "
                                              "of stream after %" G_GINT64_FORMAT " s (unanswered %u, budget %"
                                              G_GSIZE_FORMAT ")", i, h->requests, h->replies,
                                              REST_DEADLINE_US / G_USEC_PER_SEC,
                                              phx_dispatcher_get_unanswered (seen_dispatcher),
                                              phx_budget_get_used (seen_budget));
                                if (!pump ())
                                        g_usleep (20);
                        }
                        /* Every request the agent framed got exactly one reply (none of
                         * the commands without a reply, shutdown and suspend, runs here). */
                        if (h->replies != h->frames)
                                fuzz_fail ("host %u: the agent framed %u requests and sent %u replies", i,
                                      h->frames, h->replies);
                        /* The Phoenix rule, one request per line (doc/protocol.md), checked
                         * for hosts whose lines are all Phoenix's: a 0xFF byte is qemu-ga's
                         * resync, which may tear a line in two or drop it, and a line with a
                         * "guest-" name or an "id" may be framed as qemu-ga's (ending at its
                         * closing brace, or running on to the next line). */
                        if (!h->sent_ff && !h->sent_qga_mark && h->requests != h->frames)
                                fuzz_fail ("host %u sent %u lines and the agent framed %u requests", i,
                                      h->requests, h->frames);
                }
                host_close (h);
        }
        while (!agent_idle () || live_connections > 0) {
                if (g_get_monotonic_time () > deadline)
                        fuzz_fail ("not at rest %" G_GINT64_FORMAT " s after every host left: unanswered %u, "
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
                        fuzz_fail ("at rest, the dispatcher still has %u references",
                              G_OBJECT (seen_dispatcher)->ref_count);
                g_usleep (20);
        }
        if (phx_budget_get_used (seen_budget) != 0)
                fuzz_fail ("at rest, the budget still holds %" G_GSIZE_FORMAT " bytes", phx_budget_get_used (seen_budget));
        if (agent_host_connected ())
                fuzz_fail ("at rest, with every host gone, host-connected is still TRUE");
        /* the fake lists two mounts: frozen is both or none */
        if (fake_frozen_count () != (agent_frozen () ? 2u : 0u))
                fuzz_fail ("the agent says %s, the fake has %u mounts frozen", agent_frozen () ? "frozen" : "thawed",
                      fake_frozen_count ());
        /* main.c exits on "shutdown": whatever is frozen after it stays frozen */
        if (shutdown_seen && (!shutdown_thawed || fake_frozen_count () > 0))
                fuzz_fail ("after \"shutdown\" (thawed: %d) the fake has %u mounts frozen", shutdown_thawed,
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
                fuzz_fail ("the agent is gone but not its parts: dispatcher %p, budget %p, %u connections",
                      (gpointer) seen_dispatcher, (gpointer) seen_budget, live_connections);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
        agent_start ();
        fuzz_jail_enter ();
        run_script (data, size);
        agent_finish ();
        /* at rest: no worker is inside a command any more */
        fuzz_jail_leave ();
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
                fuzz_jail_leave ();
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
        fuzz_jail_build ();
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
        fuzz_jail_clean_on_crash ();
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
