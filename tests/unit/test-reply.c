/* The reply encoder (phx-protocol.c) against json-glib's own generator: the same bytes for
 * every kind of value json-glib writes as valid JSON, valid JSON where it does not, and the
 * payload and error forms of the envelope. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <string.h>

#include "phx-error.h"
#include "phx-invocation.h"
#include "phx-json.h"
#include "phx-protocol.h"
#include "phx-qga.h"

/* What the encoder wrote before it was written by hand: json-glib's generator over the
 * envelope object. */
static char *
reference (JsonNode *value, const char *tag)
{
        g_autoptr(JsonGenerator) gen = json_generator_new ();
        g_autoptr(JsonObject) obj = json_object_new ();
        g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
        g_autofree char *text = NULL;

        json_object_set_member (obj, "return", value != NULL ? json_node_copy (value) : json_node_new (JSON_NODE_NULL));
        json_object_set_string_member (obj, "tag", tag);
        json_node_set_object (root, obj);
        json_generator_set_root (gen, root);
        text = json_generator_to_data (gen, NULL);
        return g_strconcat (text, "\n", NULL);
}

static char *
encoded (JsonNode *value, const char *tag)
{
        g_autoptr(GBytes) bytes = phx_reply_encode (value != NULL ? json_node_copy (value) : NULL, tag);
        gsize len;
        const char *data = g_bytes_get_data (bytes, &len);

        return g_strndup (data, len);
}

static JsonNode *
parse (const char *text)
{
        g_autoptr(GError) error = NULL;
        JsonNode *node = phx_json_parse (text, strlen (text), &error);

        g_assert_no_error (error);
        return node;
}

static void
assert_same_as_json_glib (JsonNode *value, const char *tag)
{
        g_autofree char *want = reference (value, tag);
        g_autofree char *got = encoded (value, tag);

        g_assert_cmpstr (got, ==, want);
}

static void
test_like_json_glib (void)
{
        const char *values[] = {
                "null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808",
                "\"\"", "\"0.1.0\"", "\"a\\\"b\\\\c/d\"", "\"\\b\\f\\n\\r\\t\\u0001\\u001e\\u007f\"",
                "\"é€😀\\u2028\\u0080\"", "-2.5", "100.0", "0.0", "-0.0", "0.5", "[]", "{}", "[1,[2,[3,{}]],null]",
                "{\"b\":1,\"a\":{\"z\":[true,false],\"y\":\"x\"},\"c\":null}",
                "{\"k\":1,\"k\":2,\"j\":3}", "{\"a\\\"b\\n\":\"\\u0002\"}",
        };
        const char *tags[] = { "", "abc", "a\"b", "t\\\n\r\t\x01\x7f", "é😀" };
        char all[128];

        for (guint i = 0; i < G_N_ELEMENTS (values); i++) {
                g_autoptr(JsonNode) node = parse (values[i]);

                for (guint t = 0; t < G_N_ELEMENTS (tags); t++)
                        assert_same_as_json_glib (node, tags[t]);
        }
        assert_same_as_json_glib (NULL, "n");

        /* every ASCII byte but NUL and 0x1f (see below) in one string */
        for (guint c = 1, k = 0; c < 128; c++) {
                if (c != 0x1f)
                        all[k++] = (char) c;
                all[k] = '\0';
        }
        {
                g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), all);
                assert_same_as_json_glib (node, all);
        }
        /* invalid UTF-8 is passed through as json-glib does (the host sees the bytes) */
        {
                g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), "a\xff" "b\xc3");
                assert_same_as_json_glib (node, "\xed\xa0\x80");
        }
}

/* Where json-glib 1.6 writes something a strict JSON parser rejects. */
static void
test_valid_where_json_glib_is_not (void)
{
        const struct {
                double v;
                const char *want;
        } doubles[] = {
                { 1e21, "{\"return\":1e+21,\"tag\":\"\"}\n" },    /* json-glib: 1e+21.0 */
                { 1e17, "{\"return\":1e+17,\"tag\":\"\"}\n" },
                { NAN, "{\"return\":null,\"tag\":\"\"}\n" },      /* json-glib: nan.0 */
                { INFINITY, "{\"return\":null,\"tag\":\"\"}\n" },
                { -INFINITY, "{\"return\":null,\"tag\":\"\"}\n" },
        };

        for (guint i = 0; i < G_N_ELEMENTS (doubles); i++) {
                g_autoptr(JsonNode) node = json_node_init_double (json_node_alloc (), doubles[i].v);
                g_autofree char *got = encoded (node, "");

                g_assert_cmpstr (got, ==, doubles[i].want);
        }
        /* json-glib leaves U+001F raw */
        {
                g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), "\x1f");
                g_autofree char *got = encoded (node, "\x1f");

                g_assert_cmpstr (got, ==, "{\"return\":\"\\u001f\",\"tag\":\"\\u001f\"}\n");
        }
}

static char *
encoded_double (double v)
{
        g_autoptr(JsonNode) node = json_node_init_double (json_node_alloc (), v);
        g_autofree char *reply = encoded (node, "");

        g_assert_true (g_str_has_prefix (reply, "{\"return\":"));
        g_assert_true (g_str_has_suffix (reply, ",\"tag\":\"\"}\n"));
        return g_strndup (reply + 10, strlen (reply) - 10 - strlen (",\"tag\":\"\"}\n"));
}

/* Significant digits of a number's text: its mantissa from the first to the last non-zero
 * digit ("-997539391795200" has 13). */
static guint
significant_digits (const char *text)
{
        guint n = 0, upto_last_nonzero = 0;
        gboolean leading = TRUE;

        for (const char *p = text; *p != '\0' && *p != 'e'; p++) {
                if (!g_ascii_isdigit (*p) || (leading && *p == '0'))
                        continue;
                leading = FALSE;
                n++;
                if (*p != '0')
                        upto_last_nonzero = n;
        }
        return MAX (upto_last_nonzero, 1);
}

/* Doubles are the shortest text that reads back to the same value (json-glib writes
 * "%.17g": sysinfo's load 0.51 went out as 0.51000000000000001). */
static void
test_shortest_double (void)
{
        const struct {
                double v;
                const char *want;
        } cases[] = {
                { 0.51, "0.51" },       { 0.1, "0.1" },
                { 0.3, "0.3" },         { 0.1 + 0.2, "0.30000000000000004" },
                { -2.5, "-2.5" },       { 1.5e-10, "1.5e-10" },
                { 100.0, "100.0" },     { 0.0, "0.0" },
                { -0.0, "-0.0" },       { 1e16, "1e+16" },
                { 1e21, "1e+21" },      { 123456789012345680.0, "1.2345678901234568e+17" },
                { 1.7976931348623157e308, "1.7976931348623157e+308" },
                { 2.2250738585072014e-308, "2.2250738585072014e-308" }, /* DBL_MIN */
                { 5e-324, "5e-324" },   /* the smallest subnormal: one digit, not 4.94065645841247e-324 */
                { 1e-320, "1e-320" },   { 2.0 / 3.0, "0.6666666666666666" },
                { 1.0 / 3.0, "0.3333333333333333" }, { 9007199254740993.0, "9007199254740992.0" },
                { 4.35, "4.35" },       { 1e23, "1e+23" },
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autofree char *got = encoded_double (cases[i].v);

                g_assert_cmpstr (got, ==, cases[i].want);
        }
        /* random bit patterns: each reads back exactly, with its sign, and one digit fewer
         * (rounded to nearest) would not */
        for (guint i = 0; i < 200000; i++) {
                guint64 bits = ((guint64) g_test_rand_int () << 32) | (guint32) g_test_rand_int ();
                double v;
                g_autofree char *got = NULL;
                guint digits;

                memcpy (&v, &bits, sizeof v);
                if (!isfinite (v))
                        continue;
                got = encoded_double (v);
                g_assert_true (memcmp (&v, &(double) { g_ascii_strtod (got, NULL) }, sizeof v) == 0);
                digits = significant_digits (got);
                if (digits > 1) {
                        char fmt[8], shorter[G_ASCII_DTOSTR_BUF_SIZE];

                        g_snprintf (fmt, sizeof fmt, "%%.%ug", digits - 1);
                        g_ascii_formatd (shorter, sizeof shorter, fmt, v);
                        g_assert_true (g_ascii_strtod (shorter, NULL) != v);
                }
        }
}

/* No locale: under one whose decimal point is a comma (ru_RU, built here with localedef
 * into a directory of the test's own) the text is the same. */
static void
test_double_locale (void)
{
        g_autofree char *dir = g_dir_make_tmp ("phx-locale-XXXXXX", NULL);
        g_autofree char *target = g_build_filename (dir, "ru_RU.UTF-8", NULL);
        const char *argv[] = { "localedef", "-i", "ru_RU", "-f", "UTF-8", target, NULL };
        g_autofree char *before = g_strdup (setlocale (LC_NUMERIC, NULL));
        g_autofree char *got = NULL;
        g_autofree char *tiny = NULL;
        g_autofree char *rm = NULL;
        int status = -1;

        g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                                     NULL, NULL, NULL, NULL, &status, NULL));
        g_assert_true (g_spawn_check_wait_status (status, NULL));
        g_setenv ("LOCPATH", dir, TRUE);
        g_assert_nonnull (setlocale (LC_NUMERIC, "ru_RU.UTF-8"));
        g_assert_cmpstr (localeconv ()->decimal_point, ==, ",");
        got = encoded_double (0.51);
        tiny = encoded_double (-1.5e-10);
        setlocale (LC_NUMERIC, before);
        g_unsetenv ("LOCPATH");
        rm = g_strdup_printf ("rm -rf '%s'", dir);
        g_assert_true (g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL));
        g_assert_cmpstr (got, ==, "0.51");
        g_assert_cmpstr (tiny, ==, "-1.5e-10");
}

static char *
join (GPtrArray *parts)
{
        GString *out = g_string_new (NULL);

        for (guint i = 0; i < parts->len; i++) {
                gsize len;
                const char *data = g_bytes_get_data (parts->pdata[i], &len);

                g_string_append_len (out, data, len);
        }
        return g_string_free (out, FALSE);
}

static void
test_payload (void)
{
        g_autoptr(GBytes) payload = g_bytes_new_static ("QUJD", 4);
        g_autoptr(JsonNode) value = parse ("{\"bufb64\":\"\",\"count\":3,\"eof\":true}");
        g_autoptr(JsonNode) filled = parse ("{\"bufb64\":\"QUJD\",\"count\":3,\"eof\":true}");
        g_autoptr(JsonNode) bare = parse ("{}");
        g_autoptr(GPtrArray) parts = phx_reply_encode_with_payload (json_node_copy (value), "bufb64", payload, "r\"1");
        g_autoptr(GPtrArray) only = NULL;
        g_autofree char *want = reference (filled, "r\"1");
        g_autofree char *got = join (parts);
        g_autofree char *got_only = NULL;

        /* three parts, the payload itself in the middle, never copied */
        g_assert_cmpuint (parts->len, ==, 3);
        g_assert_true (parts->pdata[1] == payload);
        g_assert_cmpstr (got, ==, want);
        /* the member need not be in the object beforehand */
        only = phx_reply_encode_with_payload (json_node_copy (bare), "bufb64", payload, "");
        got_only = join (only);
        g_assert_cmpstr (got_only, ==, "{\"return\":{\"bufb64\":\"QUJD\"},\"tag\":\"\"}\n");
}

static void
test_error (void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(GBytes) generic = NULL;
        g_autoptr(GBytes) bad_utf8 = NULL;
        /* base64 of "open /x: No such file or directory" */
        const char want[] =
                "{\"error\":{\"bufb64\":\"b3BlbiAveDogTm8gc3VjaCBmaWxlIG9yIGRpcmVjdG9yeQ==\",\"code\":2},\"tag\":\"q\\\"\"}\n";
        /* base64 of "x\xef\xbf\xbd" (U+FFFD for the invalid byte) */
        const char want_fixed[] = "{\"error\":{\"bufb64\":\"eO+/vQ==\",\"code\":-1},\"tag\":\"\"}\n";

        phx_error_set_errno (&error, ENOENT, "open %s", "/x");
        bytes = phx_reply_encode_error (error, "q\"");
        g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), want, strlen (want));
        g_clear_error (&error);
        phx_error_set (&error, PHX_ERROR_GENERIC, "x\xff");
        bad_utf8 = phx_reply_encode_error (error, NULL);
        g_assert_cmpmem (g_bytes_get_data (bad_utf8, NULL), g_bytes_get_size (bad_utf8), want_fixed,
                         strlen (want_fixed));
        generic = phx_reply_encode_error (NULL, "");
        g_assert_nonnull (g_strstr_len (g_bytes_get_data (generic, NULL), g_bytes_get_size (generic),
                                        "\"code\":-1},\"tag\":\"\"}\n"));
}

/* qemu-ga's success-response: false — a success is no bytes at all, an error is answered. */
static void
test_qga_no_success_reply (void)
{
        PhxEntry silent = { .dialect = PHX_DIALECT_QGA, .name = "guest-x", .flags = PHX_FACE_NO_SUCCESS_REPLY };
        PhxEntry plain = { .dialect = PHX_DIALECT_QGA, .name = "guest-y" };
        PhxInvocation *inv;
        gsize len;
        const char *data;

        inv = phx_invocation_new (NULL, NULL);
        inv->prepared.dialect = PHX_DIALECT_QGA;
        inv->prepared.entry = &silent;
        inv->prepared.id = json_node_init_int (json_node_alloc (), 3);
        inv->result = json_node_init_object (json_node_alloc (), json_object_new ());
        phx_invocation_encode (inv);
        g_assert_nonnull (inv->reply);
        g_assert_cmpuint (inv->reply->len, ==, 0);
        g_assert_cmpuint (phx_invocation_reply_size (inv), ==, 0);
        phx_invocation_free (inv);

        inv = phx_invocation_new (NULL, NULL);
        inv->prepared.dialect = PHX_DIALECT_QGA;
        inv->prepared.entry = &silent;
        inv->prepared.id = json_node_init_int (json_node_alloc (), 4);
        phx_error_set (&inv->error, EOPNOTSUPP, "no");
        phx_invocation_encode (inv);
        g_assert_cmpuint (inv->reply->len, ==, 1);
        data = g_bytes_get_data (inv->reply->pdata[0], &len);
        g_assert_cmpmem (data, len, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"no\"},\"id\":4}\n", 54);
        phx_invocation_free (inv);

        /* without the flag, {} as usual */
        inv = phx_invocation_new (NULL, NULL);
        inv->prepared.dialect = PHX_DIALECT_QGA;
        inv->prepared.entry = &plain;
        phx_invocation_encode (inv);
        g_assert_cmpuint (inv->reply->len, ==, 1);
        data = g_bytes_get_data (inv->reply->pdata[0], &len);
        g_assert_cmpmem (data, len, "{\"return\":{}}\n", 14);
        phx_invocation_free (inv);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/reply/like-json-glib", test_like_json_glib);
        g_test_add_func ("/reply/valid-where-json-glib-is-not", test_valid_where_json_glib_is_not);
        g_test_add_func ("/reply/shortest-double", test_shortest_double);
        g_test_add_func ("/reply/double-locale", test_double_locale);
        g_test_add_func ("/reply/payload", test_payload);
        g_test_add_func ("/reply/qga-no-success-reply", test_qga_no_success_reply);
        g_test_add_func ("/reply/error", test_error);
        return g_test_run ();
}
