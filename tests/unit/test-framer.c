/* Framing: byte by byte, many per read, CR/LF, blanks, the size limit and its edges; qemu-ga's
 * requests, which end at their closing brace, and its 0xFF resync. */
#include "phx-framer.h"

typedef struct {
        GPtrArray *lines;
        guint overlong;
        PhxFramer *stop_at;   /* a line holding "STOP" stops this framer (a login taking over) */
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
        if (sink->stop_at != NULL && strstr (data, "STOP") != NULL)
                phx_framer_stop (sink->stop_at);
}

static void
sink_init (Sink *sink)
{
        sink->lines = g_ptr_array_new_with_free_func (g_free);
        sink->overlong = 0;
        sink->stop_at = NULL;
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

/* Pushes `input` whole, then byte by byte into a second framer: both must cut the same. */
static void
check_frames (const char *input, gsize len, const char *const *want)
{
        for (guint pass = 0; pass < 2; pass++) {
                Sink sink;
                g_autoptr(PhxFramer) f = NULL;
                guint n = g_strv_length ((char **) want);

                sink_init (&sink);
                f = phx_framer_new (1024, collect, &sink);
                if (pass == 0) {
                        phx_framer_push (f, input, len);
                } else {
                        for (gsize i = 0; i < len; i++)
                                phx_framer_push (f, input + i, 1);
                }
                if (sink.lines->len != n)
                        g_test_message ("input %s, pass %u: %u frames", input, pass, sink.lines->len);
                g_assert_cmpuint (sink.lines->len, ==, n);
                for (guint i = 0; i < n; i++)
                        g_assert_cmpstr (sink.lines->pdata[i], ==, want[i]);
                g_ptr_array_unref (sink.lines);
        }
}

#define PUSH(f, s) phx_framer_push (f, s, strlen (s))
#define CHECK(input, ...) check_frames (input, sizeof input - 1, (const char *const[]) { __VA_ARGS__, NULL })

static void
test_qga_ends_at_brace (void)
{
        /* no newline, two in one write, CRLF and blanks between */
        CHECK ("{\"execute\":\"guest-ping\"}{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}",
               "{\"execute\":\"guest-ping\"}", "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}");
        CHECK (" \r\n{\"execute\":\"guest-ping\"}\r\n\t{\"id\":1,\"execute\":\"guest-info\"}",
               "{\"execute\":\"guest-ping\"}", "{\"id\":1,\"execute\":\"guest-info\"}");
        /* braces and quotes inside strings are not structure */
        CHECK ("{\"execute\":\"guest-x\",\"arguments\":{\"s\":\"}{\\\"'\"}}",
               "{\"execute\":\"guest-x\",\"arguments\":{\"s\":\"}{\\\"'\"}}");
        /* QEMU's single quotes, and the name after the arguments */
        CHECK ("{'arguments':{'id':'}'},'execute':'guest-sync'}", "{'arguments':{'id':'}'},'execute':'guest-sync'}");
        /* a qemu-ga request may span lines once its name is known */
        CHECK ("{\"execute\":\"guest-sync\",\n\"arguments\":{\"id\":1}}",
               "{\"execute\":\"guest-sync\",\n\"arguments\":{\"id\":1}}");
        /* no string execute: an id and no tag make it qemu-ga's */
        CHECK ("{\"id\":1}{\"execute\":5,\"id\":\"x\"}", "{\"id\":1}", "{\"execute\":5,\"id\":\"x\"}");
}

static void
test_phoenix_lines_unchanged (void)
{
        /* a Phoenix request is a line, whatever follows its closing brace */
        CHECK ("{\"execute\":\"ping\"}{\"execute\":\"guest-ping\"}\n", "{\"execute\":\"ping\"}{\"execute\":\"guest-ping\"}");
        CHECK ("{\"tag\":\"a\",\"id\":1}{\"x\":1}\n", "{\"tag\":\"a\",\"id\":1}{\"x\":1}");
        CHECK ("{\"tag\":\"a\",\"execute\":\"ping\"}\n[1]{\n", "{\"tag\":\"a\",\"execute\":\"ping\"}", "[1]{");
        /* an undecided line still ends at its newline (the rest is not an object: a line too),
         * and an escaped name is not "guest-" */
        CHECK ("{\"execute\":\n\"guest-ping\"}\n", "{\"execute\":", "\"guest-ping\"}");
        CHECK ("{\"execute\":\"gu\\u0065st-ping\"} x\n", "{\"execute\":\"gu\\u0065st-ping\"} x");
        /* 0xFF inside a Phoenix string is data (the Phoenix reader reports it) */
        CHECK ("{\"execute\":\"ping\",\"tag\":\"\xff\"}\n", "{\"execute\":\"ping\",\"tag\":\"\xff\"}");
        CHECK ("{\"tag\":\"\xff\",\"execute\":\"ping\"}\n", "{\"tag\":\"\xff\",\"execute\":\"ping\"}");
}

/* Whole Phoenix lines skip the tokenizer when nothing in them could be qemu-ga's; the check
 * reads several bytes a step, so every mark is tried at every offset. */
static void
test_plain_check_at_every_offset (void)
{
        for (guint k = 0; k < 24; k++) {
                g_autofree char *pad = g_strnfill (k, ' ');
                g_autofree char *two = g_strdup_printf ("%s{\"execute\":\"guest-ping\"}{\"execute\":\"guest-info\"}\n", pad);
                g_autofree char *quoted = g_strdup_printf ("%s{'execute':'guest-ping'}{'execute':'guest-info'}\n", pad);
                g_autofree char *id = g_strdup_printf ("{\"execute\":5%s,\"id\":1}{\"id\":2}\n", pad);
                g_autofree char *ff = g_strdup_printf ("{\"execute\":%s\xff{\"execute\":\"ping\"}\n", pad);

                check_frames (two, strlen (two), (const char *const[]) {
                        "{\"execute\":\"guest-ping\"}", "{\"execute\":\"guest-info\"}", NULL });
                check_frames (quoted, strlen (quoted), (const char *const[]) {
                        "{'execute':'guest-ping'}", "{'execute':'guest-info'}", NULL });
                check_frames (ff, strlen (ff), (const char *const[]) {
                        "{\"execute\":", "{\"execute\":\"ping\"}", NULL });
                {
                        g_autofree char *first = g_strdup_printf ("{\"execute\":5%s,\"id\":1}", pad);
                        check_frames (id, strlen (id), (const char *const[]) { first, "{\"id\":2}", NULL });
                }
        }
}

static void
test_qga_resync (void)
{
        /* 0xFF drops a half-read request, even its tail of quotes and braces */
        CHECK ("{\"execute\":\"guest-sync\",\"arguments\":{\"id\xff\":1}}{\"execute\":\"guest-ping\"}",
               "{\"execute\":\"guest-ping\"}");
        /* a torn request whose dialect was not known yet is framed as the line it was (the
         * Phoenix host that sent it gets its parse error); then comes what follows */
        CHECK ("{\"execute\"\xff\xff {\"execute\":\"guest-ping\"}", "{\"execute\"", "{\"execute\":\"guest-ping\"}");
        /* and a Phoenix line may follow it */
        CHECK ("{\"execute\": \xff{\"execute\":\"ping\"}\n", "{\"execute\":", "{\"execute\":\"ping\"}");
        /* before the dialect is known, 0xFF inside a string is data: a Phoenix line keeps
         * its bytes and gets its (UTF-8) error, as it always did */
        CHECK ("{\"exec\xff{\"execute\":\"ping\"}\n", "{\"exec\xff{\"execute\":\"ping\"}");
}

static void
test_qga_reset_and_limit (void)
{
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;
        g_autoptr(GString) big = g_string_new ("{\"execute\":\"guest-x\",\"arguments\":{\"s\":\"");

        sink_init (&sink);
        f = phx_framer_new (64, collect, &sink);
        /* a new host (reset) never inherits a half-read request */
        PUSH (f, "{\"execute\":\"guest-ping\"");
        phx_framer_reset (f);
        PUSH (f, "{\"execute\":\"guest-ping\"}");
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_assert_cmpstr (sink.lines->pdata[0], ==, "{\"execute\":\"guest-ping\"}");
        /* over the limit and unfinished: dropped as it comes; 0xFF ends the dropping */
        g_string_append (big, "0123456789012345678901234567890123456789");
        PUSH (f, big->str);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        PUSH (f, "more\"}}\xff{\"execute\":\"guest-ping\"}");
        g_assert_cmpuint (sink.lines->len, ==, 2);
        g_assert_cmpuint (sink.overlong, ==, 0);
        /* over the limit and ended within one read: reported at its end */
        g_string_append (big, "\"}}");
        PUSH (f, big->str);
        g_assert_cmpuint (sink.overlong, ==, 1);
        PUSH (f, "{\"execute\":\"guest-ping\"}");
        g_assert_cmpuint (sink.lines->len, ==, 3);
        g_ptr_array_unref (sink.lines);
}

/* A consumer that stops the framer from within a frame gets the count of bytes taken: the
 * bytes after that frame are not framed (a login's stream), whatever they hold, and the
 * next push frames again. */
static void
test_stop (void)
{
        const char *phoenix = "{\"a\":1}\n{\"STOP\":1}\n{\"b\":2}\nmore";
        const char *qga = "{\"execute\":\"guest-STOP\"}{'x'}\xff\n";
        const char *rest;
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;
        gsize took;

        sink_init (&sink);
        f = phx_framer_new (1024, collect, &sink);
        sink.stop_at = f;
        took = phx_framer_push (f, phoenix, strlen (phoenix));
        g_assert_cmpuint (took, ==, strlen ("{\"a\":1}\n{\"STOP\":1}\n"));
        g_assert_cmpuint (sink.lines->len, ==, 2);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        rest = phoenix + took;
        took = phx_framer_push (f, rest, strlen (rest));
        g_assert_cmpuint (took, ==, strlen (rest));
        g_assert_cmpuint (sink.lines->len, ==, 3);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, strlen ("more"));
        g_ptr_array_unref (sink.lines);

        /* a qemu-ga request ends at its brace: the stop comes right after it */
        sink_init (&sink);
        g_clear_pointer (&f, phx_framer_free);
        f = phx_framer_new (1024, collect, &sink);
        sink.stop_at = f;
        took = phx_framer_push (f, qga, strlen (qga));
        g_assert_cmpuint (took, ==, strlen ("{\"execute\":\"guest-STOP\"}"));
        g_assert_cmpuint (sink.lines->len, ==, 1);
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        g_ptr_array_unref (sink.lines);
}

/* This agent's qemu-ga-dialect extensions (__org.phoenixga_...) frame as qemu-ga requests:
 * at their closing brace, with no newline. */
static void
test_qga_extension_name (void)
{
        const char *input = "{\"execute\":\"__org.phoenixga_guest-login\",\"id\":1}{'execute':'__org.phoenixga_x'}";
        Sink sink;
        g_autoptr(PhxFramer) f = NULL;

        sink_init (&sink);
        f = phx_framer_new (1024, collect, &sink);
        phx_framer_push (f, input, strlen (input));
        g_assert_cmpuint (sink.lines->len, ==, 2);
        g_assert_cmpstr (sink.lines->pdata[0], ==, "{\"execute\":\"__org.phoenixga_guest-login\",\"id\":1}");
        g_assert_cmpuint (phx_framer_get_buffered (f), ==, 0);
        g_ptr_array_unref (sink.lines);

        /* a Phoenix name starting with an underscore is still a Phoenix line */
        sink_init (&sink);
        g_clear_pointer (&f, phx_framer_free);
        f = phx_framer_new (1024, collect, &sink);
        phx_framer_push (f, "{\"execute\":\"__org.other_x\"}{\"tag\":1}", 35);
        g_assert_cmpuint (sink.lines->len, ==, 0);
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
        g_test_add_func ("/framer/qga/ends-at-brace", test_qga_ends_at_brace);
        g_test_add_func ("/framer/qga/phoenix-lines-unchanged", test_phoenix_lines_unchanged);
        g_test_add_func ("/framer/qga/resync", test_qga_resync);
        g_test_add_func ("/framer/qga/plain-check-at-every-offset", test_plain_check_at_every_offset);
        g_test_add_func ("/framer/qga/reset-and-limit", test_qga_reset_and_limit);
        g_test_add_func ("/framer/stop", test_stop);
        g_test_add_func ("/framer/qga/extension-name", test_qga_extension_name);
        return g_test_run ();
}
