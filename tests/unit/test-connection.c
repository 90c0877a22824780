/* PhxConnection's input on a port-like descriptor: a SOCK_SEQPACKET pair gives one message per
 * read, as a virtio port gives one buffer. What a departed host's terminal stream is read to
 * (its own end, no further), what the stream gives back, and nothing taken behind
 * agent-shutdown within one read. The channel's HUP handling around these needs a real port
 * (tests/vm). */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "phx-budget.h"
#include "phx-connection.h"

typedef struct {
        PhxConnection *conn;
        int host;               /* the host's end */
        GPtrArray *lines;
        GByteArray *stream;     /* what the stream's consumer was given */
        gboolean deafen_on_line; /* the first line stops the reading (agent-shutdown) */
} Fixture;

static void
on_line (PhxConnection *conn, GBytes *line, gpointer user_data)
{
        Fixture *f = user_data;
        gsize len;
        const char *data = g_bytes_get_data (line, &len);

        g_ptr_array_add (f->lines, g_strndup (data, len));
        if (strstr (data, "LOGIN") != NULL)
                phx_connection_take_input (conn);
        if (f->deafen_on_line)
                phx_connection_stop_reading (conn);
}

/* A terminal stream's consumer: after an `e` frame (e + 4 zero bytes) the rest is requests. */
static void
on_stream (PhxConnection *conn, GBytes *bytes, gpointer user_data)
{
        Fixture *f = user_data;
        gsize len;
        const guint8 *data = g_bytes_get_data (bytes, &len);

        g_byte_array_append (f->stream, data, len);
        if (len >= 5 && data[0] == 'e')
                phx_connection_end_stream (conn, data + 5, len - 5);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
        int sv[2];
        g_autoptr(PhxBudget) budget = phx_budget_new (1 << 20, 1 << 19);

        g_assert_cmpint (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), ==, 0);
        f->host = sv[1];
        /* not a socket to the connection: it borrows the descriptor, as a port's */
        f->conn = phx_connection_new (sv[0], FALSE, 4096, budget);
        f->lines = g_ptr_array_new_with_free_func (g_free);
        f->stream = g_byte_array_new ();
        f->deafen_on_line = FALSE;
        g_signal_connect (f->conn, "line", G_CALLBACK (on_line), f);
        g_signal_connect (f->conn, "stream", G_CALLBACK (on_stream), f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
        int fd = phx_connection_get_fd (f->conn);

        g_clear_object (&f->conn);
        close (fd);
        close (f->host);
        g_ptr_array_unref (f->lines);
        g_byte_array_unref (f->stream);
}

static void
host_sends (Fixture *f, const void *data, gsize len)
{
        g_assert_cmpint (send (f->host, data, len, 0), ==, (gssize) len);
}

/* A login request took the connection and was answered: its bytes are a stream. */
static void
make_stream (Fixture *f)
{
        gboolean got;

        host_sends (f, "LOGIN\n", 6);
        phx_connection_read (f->conn, TRUE, &got);
        g_assert_cmpuint (f->lines->len, ==, 1);
        phx_connection_begin_stream (f->conn);
        g_assert_true (phx_connection_is_stream (f->conn));
}

static void
test_departed_stream_is_read_to_its_end_only (Fixture *f, gconstpointer data)
{
        static const char ping[] = "{\"execute\":\"ping\"}\n";
        char buf[64];
        gboolean got;

        make_stream (f);
        /* the host's last frame, then (another message) the next host's request */
        host_sends (f, "e\0\0\0\0", 5);
        host_sends (f, ping, strlen (ping));
        phx_connection_read_last (f->conn, &got);
        g_assert_true (got);
        g_assert_cmpuint (f->stream->len, ==, 5);
        /* nothing framed as a request of the departed host, nothing given back... */
        g_assert_cmpuint (f->lines->len, ==, 1);
        g_assert_null (phx_connection_steal_unread (f->conn));
        /* ...and the next host's request still there for its own connection */
        g_assert_cmpint (recv (phx_connection_get_fd (f->conn), buf, sizeof buf, 0), ==, (gssize) strlen (ping));
}

static void
test_what_follows_the_end_is_given_back (Fixture *f, gconstpointer data)
{
        static const char rest[] = "{\"execute\":\"ping\"}\n";
        g_autoptr(GByteArray) msg = g_byte_array_new ();
        g_autoptr(GBytes) stolen = NULL;
        g_autoptr(PhxConnection) next = NULL;
        g_autoptr(PhxBudget) budget = phx_budget_new (1 << 20, 1 << 19);
        Fixture g = { 0 };
        gboolean got;

        make_stream (f);
        g_byte_array_append (msg, (const guint8 *) "e\0\0\0\0", 5);
        g_byte_array_append (msg, (const guint8 *) rest, strlen (rest));
        host_sends (f, msg->data, msg->len);
        phx_connection_read_last (f->conn, &got);
        g_assert_cmpuint (f->lines->len, ==, 1);
        stolen = phx_connection_steal_unread (f->conn);
        g_assert_nonnull (stolen);
        g_assert_cmpmem (g_bytes_get_data (stolen, NULL), g_bytes_get_size (stolen), rest, strlen (rest));
        /* fed to the next host's connection, they are its request */
        next = phx_connection_new (-1, FALSE, 4096, budget);
        g.lines = g_ptr_array_new_with_free_func (g_free);
        g_signal_connect (next, "line", G_CALLBACK (on_line), &g);
        phx_connection_feed (next, stolen);
        g_assert_cmpuint (g.lines->len, ==, 1);
        g_assert_cmpstr (g.lines->pdata[0], ==, "{\"execute\":\"ping\"}");
        g_ptr_array_unref (g.lines);
}

static void
test_nothing_taken_behind_a_deafening_line (Fixture *f, gconstpointer data)
{
        static const char two[] = "{\"execute\":\"agent-shutdown\"}\n{\"execute\":\"ping\"}\n";
        gboolean got;

        f->deafen_on_line = TRUE;
        host_sends (f, two, strlen (two));
        phx_connection_read (f->conn, TRUE, &got);
        g_assert_cmpuint (f->lines->len, ==, 1);
        g_assert_true (phx_connection_is_deaf (f->conn));
        /* and nothing is read any more */
        host_sends (f, two, strlen (two));
        phx_connection_read (f->conn, TRUE, &got);
        g_assert_false (got);
        g_assert_cmpuint (f->lines->len, ==, 1);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add ("/connection/departed-stream-read-to-its-end-only", Fixture, NULL, fixture_set_up,
                    test_departed_stream_is_read_to_its_end_only, fixture_tear_down);
        g_test_add ("/connection/what-follows-the-end-is-given-back", Fixture, NULL, fixture_set_up,
                    test_what_follows_the_end_is_given_back, fixture_tear_down);
        g_test_add ("/connection/nothing-taken-behind-a-deafening-line", Fixture, NULL, fixture_set_up,
                    test_nothing_taken_behind_a_deafening_line, fixture_tear_down);
        return g_test_run ();
}
