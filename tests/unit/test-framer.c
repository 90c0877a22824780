/* Framing: byte by byte, many per read, CR/LF, blanks, the size limit and its edges. */
#include "phx-framer.h"

typedef struct {
        GPtrArray *lines;
        guint overlong;
} Sink;

static void
collect (PhxFrameKind kind, GBytes *line, gpointer user_data)
{
        Sink *sink = user_data;
        gsize len;
        const char *data;

        if (kind != PHX_FRAME_LINE) {
                g_assert_null (line);
                sink->overlong++;
                return;
        }
        data = g_bytes_get_data (line, &len);
        /* the promised NUL just past the end */
        g_assert_cmpuint (strlen (data), ==, len);
        g_assert_cmpuint (len, >, 0);
        g_ptr_array_add (sink->lines, g_strndup (data, len));
}

static void
sink_init (Sink *sink)
{
        sink->lines = g_ptr_array_new_with_free_func (g_free);
        sink->overlong = 0;
}

static void
test_byte_by_byte (void)
{
        const char *input = "{\"execute\":\"ping\"}\r\n  \r\n\n{\"a\":1}\n";
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;

        sink_init (&sink);
        f = phx_framer_new (1024, collect, &sink);
        for (const char *p = input; *p; p++)
                phx_framer_push (f, p, 1);
        g_assert_cmpuint (sink.lines->len, ==, 2);
        g_assert_cmpstr (sink.lines->pdata[0], ==, "{\"execute\":\"ping\"}");
        g_assert_cmpstr (sink.lines->pdata[1], ==, "{\"a\":1}");
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        g_ptr_array_unref (sink.lines);
}

static void
test_many_in_one_push (void)
{
        g_autoptr(GString) s = g_string_new (NULL);
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;

        for (int i = 0; i < 1000; i++)
                g_string_append_printf (s, "line %d\r\n", i);
        g_string_append (s, "partial");
        sink_init (&sink);
        f = phx_framer_new (1024, collect, &sink);
        phx_framer_push (f, s->str, s->len);
        g_assert_cmpuint (sink.lines->len, ==, 1000);
        g_assert_cmpstr (sink.lines->pdata[999], ==, "line 999");
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, strlen ("partial"));
        phx_framer_push (f, "\n", 1);
        g_assert_cmpstr (sink.lines->pdata[1000], ==, "partial");
        g_ptr_array_unref (sink.lines);
}

static void
test_limit_edges (void)
{
        const gsize max = 16;
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;
        g_autofree char *at_max = g_strnfill (max, 'x');
        g_autofree char *over = g_strnfill (max + 1, 'y');

        sink_init (&sink);
        f = phx_framer_new (max, collect, &sink);
        /* exactly max: accepted */
        phx_framer_push (f, at_max, max);
        phx_framer_push (f, "\n", 1);
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_assert_cmpuint (sink.overlong, ==, 0);
        /* max + 1, split so the limit is crossed mid-stream: drained, reported once */
        phx_framer_push (f, over, 10);
        phx_framer_push (f, over + 10, max + 1 - 10);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        phx_framer_push (f, "more garbage", 12);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        g_assert_cmpuint (sink.overlong, ==, 0);
        phx_framer_push (f, "\nok\n", 4);
        g_assert_cmpuint (sink.overlong, ==, 1);
        g_assert_cmpuint (sink.lines->len, ==, 2);
        g_assert_cmpstr (sink.lines->pdata[1], ==, "ok");
        g_ptr_array_unref (sink.lines);
}

static void
test_split_line_trimmed (void)
{
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;
        const char *parts[] = { "  {\"a\"", ":1}  \r", "\n  \r", "\n" };

        sink_init (&sink);
        f = phx_framer_new (64, collect, &sink);
        for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
                phx_framer_push (f, parts[i], strlen (parts[i]));
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_assert_cmpstr (sink.lines->pdata[0], ==, "{\"a\":1}");
        g_ptr_array_unref (sink.lines);
}

static void
test_reset_forgets_partial (void)
{
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;

        sink_init (&sink);
        f = phx_framer_new (64, collect, &sink);
        phx_framer_push (f, "{\"half", 6);
        phx_framer_reset (f);
        phx_framer_push (f, "new\n", 4);
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_assert_cmpstr (sink.lines->pdata[0], ==, "new");
        phx_framer_push (f, "", 0);
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_ptr_array_unref (sink.lines);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/framer/byte-by-byte", test_byte_by_byte);
        g_test_add_func ("/framer/many-in-one-push", test_many_in_one_push);
        g_test_add_func ("/framer/limit-edges", test_limit_edges);
        g_test_add_func ("/framer/split-line-trimmed", test_split_line_trimmed);
        g_test_add_func ("/framer/reset", test_reset_forgets_partial);
        return g_test_run ();
}
