/* The strict JSON reader, base64 and the envelope: accepted forms, rejected forms, limits. */
#include <errno.h>

#include "phx-base64.h"
#include "phx-error.h"
#include "phx-json.h"
#include "phx-limits.h"
#include "phx-protocol.h"
#include "phx-qga.h"
#include "phx-registry.h"

static char *
roundtrip (const char *text)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = phx_json_parse (text, strlen (text), &error);

        g_assert_no_error (error);
        return json_to_string (node, FALSE);
}

static void
test_json_accepts (void)
{
        const struct {
                const char *in, *out;
        } cases[] = {
                { "{}", "{}" },
                { " [ ] ", "[]" },
                { "{\"a\":[1,-2,3.5,true,false,null,\"x\"]}", "{\"a\":[1,-2,3.5,true,false,null,\"x\"]}" },
                { "\"\\u00e9\\ud83d\\ude00\\n\\/\"", "\"é😀\\n/\"" },
                { "9223372036854775807", "9223372036854775807" },
                { "1e2", "100.0" },
                { "{\"k\":1,\"k\":2}", "{\"k\":2}" },
                { "\"ü\"", "\"ü\"" },
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autofree char *out = roundtrip (cases[i].in);
                g_assert_cmpstr (out, ==, cases[i].out);
        }
}

static void
test_json_rejects (void)
{
        const char *cases[] = {
                "", "{", "[1,]", "{\"a\"}", "{\"a\":}", "01", "1.", "-", "1e", "tru", "nul",
                "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"",
                "\"\x01\"", "\"\xff\"", "{} {}", "[1 2]", "{'a':1}", "NaN",
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) node = phx_json_parse (cases[i], strlen (cases[i]), &error);
                g_assert_null (node);
                g_assert_error (error, PHX_ERROR, PHX_ERROR_GENERIC);
                g_assert_true (g_str_has_prefix (error->message, "JSON parse error"));
        }
}

static void
test_json_depth_limit (void)
{
        for (guint depth = PHX_JSON_DEPTH_MAX - 1; depth <= PHX_JSON_DEPTH_MAX + 1; depth++) {
                g_autoptr(GString) s = g_string_new (NULL);
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) node = NULL;

                for (guint i = 0; i < depth; i++)
                        g_string_append_c (s, '[');
                for (guint i = 0; i < depth; i++)
                        g_string_append_c (s, ']');
                node = phx_json_parse (s->str, s->len, &error);
                if (depth <= PHX_JSON_DEPTH_MAX)
                        g_assert_no_error (error);
                else
                        g_assert_nonnull (strstr (error->message, "nesting too deep"));
        }
}

/* The budget counts values, whatever their shape: exactly PHX_JSON_NODES_MAX pass, one more
 * fails before the tree grows further. */
static void
test_json_nodes_limit (void)
{
        for (guint total = PHX_JSON_NODES_MAX - 1; total <= PHX_JSON_NODES_MAX + 1; total++) {
                g_autoptr(GString) s = g_string_new ("[");
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) node = NULL;

                /* the array itself is one value, its elements the rest */
                for (guint i = 1; i < total; i++)
                        g_string_append (s, i == 1 ? "{}" : ",{}");
                g_string_append_c (s, ']');
                node = phx_json_parse (s->str, s->len, &error);
                if (total <= PHX_JSON_NODES_MAX) {
                        g_assert_no_error (error);
                        g_assert_cmpuint (json_array_get_length (json_node_get_array (node)), ==, total - 1);
                } else {
                        g_assert_null (node);
                        g_assert_error (error, PHX_ERROR, PHX_ERROR_GENERIC);
                        g_assert_nonnull (strstr (error->message, "too many JSON values"));
                }
        }
        /* the count is reported, so a queue can charge a parsed request by its tree */
        {
                const char *text = "{\"execute\":\"ping\",\"arguments\":{\"a\":[1,2,{}]},\"tag\":\"t\"}";
                guint n_values = 0;
                g_autoptr(JsonNode) node = phx_json_parse_counted (text, strlen (text), &n_values, NULL);

                g_assert_nonnull (node);
                g_assert_cmpuint (n_values, ==, 8);
        }
        /* members count too: keys are not values, each member's value is */
        {
                g_autoptr(GString) s = g_string_new ("{");
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) node = NULL;

                for (guint i = 0; i < PHX_JSON_NODES_MAX; i++)
                        g_string_append_printf (s, "%s\"k%u\":null", i == 0 ? "" : ",", i);
                g_string_append_c (s, '}');
                node = phx_json_parse (s->str, s->len, &error);
                g_assert_null (node);
                g_assert_nonnull (strstr (error->message, "too many JSON values"));
        }
}

static void
test_base64 (void)
{
        const struct {
                const char *plain, *b64;
        } cases[] = {
                { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foobar", "Zm9vYmFy" },
        };
        const char *bad[] = { "Z", "Zg=", "Zg=a", "Z===", "====", "Zm9v!", "Zm 9", "Zg==Zg==", "=Zg=",
                              /* non-zero bits under the padding: not canonical */
                              "AB==", "AAB=", "Zh==", "Zm9=", "Zm9vYh==", "Zm9vYmF=", "//==", "///=" };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autofree char *enc = phx_base64_encode ((const guint8 *) cases[i].plain, strlen (cases[i].plain));
                g_autoptr(GBytes) dec = phx_base64_decode (cases[i].b64, strlen (cases[i].b64), NULL);
                g_assert_cmpstr (enc, ==, cases[i].b64);
                g_assert_cmpmem (g_bytes_get_data (dec, NULL), g_bytes_get_size (dec), cases[i].plain,
                                 strlen (cases[i].plain));
        }
        for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) dec = phx_base64_decode (bad[i], strlen (bad[i]), &error);
                g_assert_null (dec);
                g_assert_error (error, PHX_ERROR, EINVAL);
        }
        /* every byte value survives, and GLib's decoder agrees with ours */
        {
                guint8 all[256];
                g_autofree char *enc = NULL;
                g_autofree guchar *ref = NULL;
                gsize ref_len;
                g_autoptr(GBytes) dec = NULL;

                for (guint i = 0; i < 256; i++)
                        all[i] = (guint8) i;
                enc = phx_base64_encode (all, sizeof all);
                ref = g_base64_decode (enc, &ref_len);
                dec = phx_base64_decode (enc, strlen (enc), NULL);
                g_assert_cmpmem (ref, ref_len, all, sizeof all);
                g_assert_cmpmem (g_bytes_get_data (dec, NULL), g_bytes_get_size (dec), all, sizeof all);
        }
}

/* Each of the 64 symbols as the last one before "==" (and before "="): only those whose
 * unused low bits are zero decode; they are exactly what the encoder produces. */
static void
test_base64_padding_bits (void)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        guint accepted_one = 0, accepted_two = 0;

        for (guint i = 0; i < 64; i++) {
                char two[] = { 'Q', alphabet[i], '=', '=', '\0' };
                char one[] = { 'Q', 'Q', alphabet[i], '=', '\0' };
                g_autoptr(GError) e2 = NULL;
                g_autoptr(GError) e1 = NULL;
                g_autoptr(GBytes) d2 = phx_base64_decode (two, 4, &e2);
                g_autoptr(GBytes) d1 = phx_base64_decode (one, 4, &e1);

                g_assert_true ((d2 != NULL) == ((i & 0x0f) == 0));
                g_assert_true ((d1 != NULL) == ((i & 0x03) == 0));
                if (d2 != NULL) {
                        g_autofree char *again = phx_base64_encode (g_bytes_get_data (d2, NULL), g_bytes_get_size (d2));
                        g_assert_cmpstr (again, ==, two);
                        accepted_two++;
                } else {
                        g_assert_error (e2, PHX_ERROR, EINVAL);
                        g_assert_nonnull (strstr (e2->message, "padding bits"));
                }
                if (d1 != NULL) {
                        g_autofree char *again = phx_base64_encode (g_bytes_get_data (d1, NULL), g_bytes_get_size (d1));
                        g_assert_cmpstr (again, ==, one);
                        accepted_one++;
                } else {
                        g_assert_error (e1, PHX_ERROR, EINVAL);
                }
        }
        g_assert_cmpuint (accepted_two, ==, 4);
        g_assert_cmpuint (accepted_one, ==, 16);
}

static void
test_envelope (void)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *tag = NULL;
        g_autoptr(PhxRequest) req = NULL;
        const char *line = "{\"execute\":\"file-read\",\"arguments\":{\"handle_id\":3},\"tag\":\"t1\"}";

        req = phx_request_parse (line, strlen (line), &tag, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (req->execute, ==, "file-read");
        g_assert_cmpstr (req->tag, ==, "t1");
        g_assert_cmpint (json_object_get_int_member (req->arguments, "handle_id"), ==, 3);
}

/* The tree-less reading of {"execute":..,"tag":..} gives what the full reader gives; every
 * other shape (escapes, arguments, duplicates, trailing data, mistakes) goes to the reader. */
static void
test_envelope_fast_path (void)
{
        const struct {
                const char *line;
                const char *execute, *tag; /* NULL execute: an error, with `tag` */
                gboolean has_arguments;
        } cases[] = {
                { "{\"execute\":\"ping\",\"tag\":\"1\"}", "ping", "1", FALSE },
                { " { \"tag\" : \"x y\" ,\t\"execute\" : \"ping\" } ", "ping", "x y", FALSE },
                { "{\"execute\":\"ping\"}", "ping", "", FALSE },
                { "{\"execute\":\"p\\u0069ng\",\"tag\":\"1\"}", "ping", "1", FALSE },
                { "{\"execute\":\"ping\",\"arguments\":{},\"tag\":\"a\"}", "ping", "a", TRUE },
                { "{\"execute\":\"ping\",\"arguments\":null}", "ping", "", FALSE },
                { "{\"execute\":\"ping\",\"tag\":\"1\"} x", NULL, "", FALSE },
                { "{\"execute\":\"ping\",\"tag\":1}", NULL, "", FALSE },
                { "{\"tag\":\"t\"}", NULL, "t", FALSE },
                { "{\"execute\":\"ping\",}", NULL, "", FALSE },
                { "{\"execute\":\"ping\",\"tag\":\"\u00e9\"}", "ping", "\u00e9", FALSE },
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *tag = NULL;
                g_autoptr(PhxRequest) req = phx_request_parse (cases[i].line, strlen (cases[i].line), &tag, &error);

                g_assert_cmpstr (tag, ==, cases[i].tag);
                if (cases[i].execute == NULL) {
                        g_assert_null (req);
                        g_assert_nonnull (error);
                        continue;
                }
                g_assert_no_error (error);
                g_assert_cmpstr (req->execute, ==, cases[i].execute);
                g_assert_cmpstr (req->tag, ==, cases[i].tag);
                g_assert_true ((req->arguments != NULL) == cases[i].has_arguments);
        }
}

static void
test_envelope_errors (void)
{
        const struct {
                const char *line;
                int code;
                const char *tag;
        } cases[] = {
                { "garbage", PHX_ERROR_GENERIC, "" },
                { "[]", EINVAL, "" },
                { "{\"tag\":\"x\"}", EINVAL, "x" },
                { "{\"execute\":1,\"tag\":\"y\"}", EINVAL, "y" },
                { "{\"execute\":\"ping\",\"arguments\":5,\"tag\":\"z\"}", EINVAL, "z" },
                { "{\"execute\":\"ping\",\"tag\":5}", EINVAL, "" },
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *tag = NULL;
                g_autoptr(PhxRequest) req = phx_request_parse (cases[i].line, strlen (cases[i].line), &tag, &error);
                g_assert_null (req);
                g_assert_cmpint (phx_error_wire_code (error), ==, cases[i].code);
                g_assert_cmpstr (tag, ==, cases[i].tag);
        }
}

static void
test_reply_encoding (void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) ok = phx_reply_encode (json_node_init_int (json_node_alloc (), 7), "a\"b");
        g_autoptr(GBytes) err = NULL;
        g_autoptr(GBytes) null_reply = phx_reply_encode (NULL, "");
        const char expect_null[] = "{\"return\":null,\"tag\":\"\"}\n";
        const char expect_ok[] = "{\"return\":7,\"tag\":\"a\\\"b\"}\n";
        /* base64 of "open /x: No such file or directory" */
        const char expect_err[] =
                "{\"error\":{\"bufb64\":\"b3BlbiAveDogTm8gc3VjaCBmaWxlIG9yIGRpcmVjdG9yeQ==\",\"code\":2},\"tag\":\"q\"}\n";

        g_assert_cmpmem (g_bytes_get_data (ok, NULL), g_bytes_get_size (ok), expect_ok, strlen (expect_ok));
        phx_error_set_errno (&error, ENOENT, "open %s", "/x");
        err = phx_reply_encode_error (error, "q");
        g_assert_cmpmem (g_bytes_get_data (err, NULL), g_bytes_get_size (err), expect_err, strlen (expect_err));
        g_assert_cmpmem (g_bytes_get_data (null_reply, NULL), g_bytes_get_size (null_reply),
                         expect_null, strlen (expect_null));
}

static void
test_error_mapping (void)
{
        const struct {
                GQuark domain;
                int code;
                int wire;
        } cases[] = {
                { 0, ENOENT, ENOENT },       /* PHX_ERROR keeps errno */
                { 0, EINVAL, EINVAL },
                { 0, PHX_ERROR_GENERIC, -1 },
                { 0, 0, -1 },                /* 0 is no errno */
                { 1, G_IO_ERROR_NOT_FOUND, -1 }, /* foreign domains never leak their codes */
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                GQuark domain = cases[i].domain == 0 ? PHX_ERROR : G_IO_ERROR;
                g_autoptr(GError) error = g_error_new (domain, cases[i].code, "x");
                g_assert_cmpint (phx_error_wire_code (error), ==, cases[i].wire);
        }
        g_assert_cmpint (phx_error_wire_code (NULL), ==, -1);
        {
                g_autoptr(GError) error = NULL;
                phx_error_set_errno (&error, EACCES, "chmod %s", "/etc");
                g_assert_cmpstr (error->message, ==, "chmod /etc: Permission denied");
                g_assert_cmpint (phx_error_wire_code (error), ==, EACCES);
        }
}

/* g_set_error's rule for both setters: the first error stays, the second is a warning. */
static void
test_error_first_wins (void)
{
        g_autoptr(GError) error = NULL;

        phx_error_set_errno (&error, ENOENT, "open %s", "/a");
        g_test_expect_message ("phx-error", G_LOG_LEVEL_WARNING, "*over the top*open /a*lstat /b*");
        phx_error_set_errno (&error, EACCES, "lstat %s", "/b");
        g_test_assert_expected_messages ();
        g_assert_error (error, PHX_ERROR, ENOENT);
        g_assert_cmpstr (error->message, ==, "open /a: No such file or directory");

        g_test_expect_message ("phx-error", G_LOG_LEVEL_WARNING, "*over the top*dropped: second*");
        phx_error_set (&error, EINVAL, "%s", "second");
        g_test_assert_expected_messages ();
        g_assert_error (error, PHX_ERROR, ENOENT);

        g_clear_error (&error);
        phx_error_set (&error, EINVAL, "first %d", 1);
        g_test_expect_message ("phx-error", G_LOG_LEVEL_WARNING, "*over the top*");
        phx_error_set (&error, EBADF, "second");
        g_test_assert_expected_messages ();
        g_assert_error (error, PHX_ERROR, EINVAL);
        g_assert_cmpstr (error->message, ==, "first 1");

        /* NULL still means "not interested" and warns about nothing */
        phx_error_set (NULL, EINVAL, "ignored");
        phx_error_set_errno (NULL, EINVAL, "ignored");
}

/* A port restricted to one dialect: the other's requests are refused in their own dialect
 * (the error says so), before any argument is read; its own run as before. */
static void
test_port_dialects (void)
{
        g_autoptr(PhxRegistry) registry = phx_registry_new ();
        const struct {
                const char *setting;
                const char *line;
                gboolean ok;
                PhxDialect dialect;
                const char *message;
        } cases[] = {
                { "both", "{\"execute\":\"guest-ping\"}", TRUE, PHX_DIALECT_QGA, NULL },
                { "both", "{\"execute\":\"ping\"}", TRUE, PHX_DIALECT_PHOENIX, NULL },
                { "phoenix", "{\"execute\":\"ping\"}", TRUE, PHX_DIALECT_PHOENIX, NULL },
                { "phoenix", "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":\"x\"},\"id\":1}", FALSE,
                  PHX_DIALECT_QGA, "Command guest-sync has been disabled: this port serves only the Phoenix dialect" },
                { "phoenix", "{\"execute\":\"guest-nope\"}", FALSE, PHX_DIALECT_QGA,
                  "The command guest-nope has not been found" },
                { "qemu-ga", "{\"execute\":\"guest-ping\"}", TRUE, PHX_DIALECT_QGA, NULL },
                { "qemu-ga", "{\"execute\":\"file-read\",\"arguments\":{\"handle_id\":\"x\"},\"tag\":\"t\"}", FALSE,
                  PHX_DIALECT_PHOENIX, "Command file-read is disabled: this port serves only the qemu-ga dialect" },
                { "qemu-ga", "{\"execute\":\"nope\"}", FALSE, PHX_DIALECT_PHOENIX, "Unknown command: nope" },
        };
        guint dialects;

        g_assert_false (phx_dialects_from_string ("qemu", &dialects));
        g_assert_false (phx_dialects_from_string ("", &dialects));
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                PhxPrepared p = { 0 };
                g_autoptr(GError) error = NULL;
                gboolean ok;

                g_assert_true (phx_dialects_from_string (cases[i].setting, &dialects));
                g_assert_cmpstr (phx_dialects_to_string (dialects), ==, cases[i].setting);
                phx_registry_set_dialects (registry, dialects);
                ok = phx_registry_prepare (registry, cases[i].line, strlen (cases[i].line), &p, &error);
                g_assert_cmpint (ok, ==, cases[i].ok);
                g_assert_cmpint (p.dialect, ==, cases[i].dialect);
                if (!ok)
                        g_assert_cmpstr (error->message, ==, cases[i].message);
                phx_prepared_clear (&p);
        }
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/json/accepts", test_json_accepts);
        g_test_add_func ("/json/rejects", test_json_rejects);
        g_test_add_func ("/json/depth-limit", test_json_depth_limit);
        g_test_add_func ("/json/nodes-limit", test_json_nodes_limit);
        g_test_add_func ("/base64/strict", test_base64);
        g_test_add_func ("/base64/padding-bits", test_base64_padding_bits);
        g_test_add_func ("/protocol/envelope", test_envelope);
        g_test_add_func ("/protocol/envelope-errors", test_envelope_errors);
        g_test_add_func ("/protocol/envelope-fast-path", test_envelope_fast_path);
        g_test_add_func ("/protocol/reply-encoding", test_reply_encoding);
        g_test_add_func ("/protocol/port-dialects", test_port_dialects);
        g_test_add_func ("/error/mapping", test_error_mapping);
        g_test_add_func ("/error/first-wins", test_error_first_wins);
        return g_test_run ();
}
