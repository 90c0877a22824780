/* Command tables, argument specs and the handle table. */
#include <errno.h>

#include "phx-error.h"
#include "phx-family.h"
#include "cmd-handles.h"
#include "phx-handle-table.h"
#include "phx-registry.h"
#include "phx-json.h"
#include "phx-limits.h"
#include "phx-qga.h"

static GPtrArray *
all_commands (void)
{
        guint n;
        const GType *types = phx_family_types (&n);
        GPtrArray *cmds = g_ptr_array_new ();

        for (guint i = 0; i < n; i++) {
                g_autoptr(GTypeClass) klass = g_type_class_ref (types[i]);
                for (const PhxCommand *c = PHX_FAMILY_CLASS (klass)->commands; c->name != NULL; c++)
                        g_ptr_array_add (cmds, (gpointer) c);
        }
        return cmds;
}

/* The protocol tests, and the VM tests (the only place freeze commands may run). */
static char *
protocol_tests_text (void)
{
        const char *dirs[] = { PROTOCOL_TEST_DIR, VM_TEST_DIR };
        GString *all = g_string_new (NULL);

        for (guint i = 0; i < G_N_ELEMENTS (dirs); i++) {
                g_autoptr(GDir) dir = g_dir_open (dirs[i], 0, NULL);
                const char *name;

                g_assert_nonnull (dir);
                while ((name = g_dir_read_name (dir)) != NULL) {
                        g_autofree char *path = g_build_filename (dirs[i], name, NULL);
                        g_autofree char *text = NULL;
                        if (g_str_has_prefix (name, "test_") && g_str_has_suffix (name, ".py") &&
                            g_file_get_contents (path, &text, NULL, NULL))
                                g_string_append (all, text);
                }
        }
        return g_string_free (all, FALSE);
}

static void
test_tables (void)
{
        g_autoptr(GPtrArray) cmds = all_commands ();
        g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
        g_autofree char *tests = protocol_tests_text ();

        g_assert_cmpuint (cmds->len, >=, 15);
        for (guint i = 0; i < cmds->len; i++) {
                const PhxCommand *c = g_ptr_array_index (cmds, i);
                g_autoptr(GError) error = NULL;
                g_autofree char *quoted = g_strdup_printf ("\"%s\"", c->name);

                g_assert_false (g_hash_table_contains (seen, c->name));
                g_hash_table_add (seen, (gpointer) c->name);
                g_assert_nonnull (c->func);
                g_assert_true (phx_args_spec_check (c->args, &error));
                g_assert_no_error (error);
                /* what may take unbounded time must never run on the main loop */
                if (c->flags & PHX_CMD_LONG)
                        g_assert_true (c->flags & PHX_CMD_THREADED);
                /* a row that names a handle belongs to the handles family's lanes */
                if (c->args != NULL && c->args[0].name != NULL && g_str_equal (c->args[0].name, "handle_id"))
                        g_assert_true (c->family_flags != 0 && (c->flags & PHX_CMD_LONG));
                /* a row with no Phoenix name is tested through its faces (below) */
                if (!(c->flags & PHX_CMD_FACE_ONLY) && strstr (tests, quoted) == NULL)
                        g_error ("command %s has no protocol test", c->name);
        }

        /* and so does every second face (qemu-ga's names) */
        {
                guint n;
                const GType *types = phx_family_types (&n);

                for (guint t = 0; t < n; t++) {
                        g_autoptr(GTypeClass) klass = g_type_class_ref (types[t]);
                        const PhxFace *faces = PHX_FAMILY_CLASS (klass)->faces;

                        for (const PhxFace *f = faces; f != NULL && f->name != NULL; f++) {
                                g_autofree char *quoted = g_strdup_printf ("\"%s\"", f->name);

                                if (strstr (tests, quoted) == NULL)
                                        g_error ("face %s has no protocol test", f->name);
                        }
                }
        }
}

static void
test_spec_check_catches_mistakes (void)
{
        const PhxArgSpec twice[] = { { "a", PHX_ARG_INT }, { "a", PHX_ARG_BOOL }, { NULL } };
        const PhxArgSpec bad_range[] = { { "a", PHX_ARG_INT, 0, .min = 5, .max = 1 }, { NULL } };
        const PhxArgSpec bad_default[] = { { "a", PHX_ARG_INT, 0, .def.i = 9, .min = 0, .max = 3 }, { NULL } };

        g_assert_false (phx_args_spec_check (twice, NULL));
        g_assert_false (phx_args_spec_check (bad_range, NULL));
        g_assert_false (phx_args_spec_check (bad_default, NULL));
}

static const PhxArgSpec spec[] = {
        { "id", PHX_ARG_INT, PHX_ARG_REQUIRED, .min = 1, .max = 10 },
        { "count", PHX_ARG_INT, 0, .def.i = 4, .min = 1, .max = 100 },
        { "path", PHX_ARG_PATH, 0, .def.s = "/default" },
        { "flag", PHX_ARG_BOOL, 0, .def.b = TRUE },
        { "data", PHX_ARG_BASE64, 0 },
        { NULL }
};

static PhxArgs *
validate (const char *json, GError **error)
{
        g_autoptr(JsonNode) node = phx_json_parse (json, strlen (json), NULL);

        g_assert_nonnull (node);
        return phx_args_validate (spec, json_node_get_object (node), error);
}

static void
test_args_valid (void)
{
        g_autoptr(PhxArgs) a = validate ("{\"id\":10,\"data\":\"aGk=\",\"unknown\":[1],\"flag\":null}", NULL);

        g_assert_nonnull (a);
        g_assert_cmpint (phx_args_get_int (a, "id"), ==, 10);
        g_assert_cmpint (phx_args_get_int (a, "count"), ==, 4);
        g_assert_cmpstr (phx_args_get_string (a, "path"), ==, "/default");
        g_assert_true (phx_args_get_bool (a, "flag"));
        g_assert_false (phx_args_has (a, "flag"));
        g_assert_true (phx_args_has (a, "id"));
        g_assert_cmpmem (g_bytes_get_data (phx_args_get_bytes (a, "data"), NULL), 2, "hi", 2);
}

static void
test_args_invalid (void)
{
        const struct {
                const char *json, *needle;
        } cases[] = {
                { "{}", "missing required argument 'id'" },
                { "{\"id\":null}", "missing required argument 'id'" },
                { "{\"id\":0}", "outside 1..10" },
                { "{\"id\":11}", "outside 1..10" },
                { "{\"id\":1.0}", "'id' must be an integer" },
                { "{\"id\":\"1\"}", "'id' must be an integer" },
                { "{\"id\":1,\"count\":101}", "'count' is 101" },
                { "{\"id\":1,\"path\":\"rel\"}", "absolute path" },
                { "{\"id\":1,\"path\":[]}", "'path' must be a string" },
                { "{\"id\":1,\"flag\":1}", "'flag' must be a boolean" },
                { "{\"id\":1,\"data\":\"a\"}", "argument 'data': invalid base64" },
        };

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(PhxArgs) a = validate (cases[i].json, &error);
                g_assert_null (a);
                g_assert_error (error, PHX_ERROR, EINVAL);
                if (strstr (error->message, cases[i].needle) == NULL)
                        g_error ("%s: got '%s'", cases[i].json, error->message);
        }
        {
                g_autoptr(PhxArgs) a = validate ("{\"id\":1}", NULL);
                g_assert_nonnull (a);
        }
}

static JsonNode *
parse_text (const char *json)
{
        JsonNode *node = phx_json_parse (json, strlen (json), NULL);

        g_assert_nonnull (node);
        return node;
}

/* Arrays and free-form values are kept as nodes for the command to check; qemu-ga's strict
 * mode names the JSON type it wanted. */
static void
test_args_nodes (void)
{
        static const PhxArgSpec node_spec[] = {
                { "list", PHX_ARG_ARRAY, PHX_ARG_REQUIRED },
                { "whence", PHX_ARG_ANY, 0 },
                { NULL }
        };
        g_autoptr(JsonNode) ok = parse_text ("{\"list\":[1,\"x\"],\"whence\":\"set\"}");
        g_autoptr(JsonNode) bad = parse_text ("{\"list\":{}}");
        g_autoptr(JsonNode) null_any = parse_text ("{\"list\":[],\"whence\":null}");
        g_autoptr(GError) error = NULL;
        g_autoptr(PhxArgs) a = phx_args_validate (node_spec, json_node_get_object (ok), NULL);
        g_autoptr(PhxArgs) b = NULL;

        g_assert_nonnull (a);
        g_assert_cmpint (json_array_get_length (json_node_get_array (phx_args_get_node (a, "list"))), ==, 2);
        g_assert_cmpstr (json_node_get_string (phx_args_get_node (a, "whence")), ==, "set");
        g_assert_cmpuint (phx_args_size (a), >, 128);

        b = phx_args_validate_mode (node_spec, json_node_get_object (bad), PHX_ARGS_STRICT, &error);
        g_assert_null (b);
        g_assert_cmpstr (error->message, ==, "Invalid parameter type for 'list', expected: array");
        g_clear_error (&error);

        b = phx_args_validate_mode (node_spec, json_node_get_object (null_any), PHX_ARGS_STRICT, &error);
        g_assert_null (b);
        g_assert_cmpstr (error->message, ==, "Invalid parameter type for 'whence', expected: value");
        g_clear_error (&error);

        b = phx_args_validate (node_spec, json_node_get_object (null_any), &error);
        g_assert_no_error (error);
        g_assert_null (phx_args_get_node (b, "whence"));
}

static PhxFile *
dummy_file (void)
{
        PhxFile *f = g_new0 (PhxFile, 1);

        f->fd = -1;
        f->path = g_strdup ("/dummy");
        return f;
}

static void
test_handles (void)
{
        g_autoptr(PhxHandleTable) table = phx_handle_table_new (3);
        g_autoptr(GError) error = NULL;
        PhxHandle *h[3], *kept;

        for (guint i = 0; i < 3; i++) {
                g_assert_true (phx_handle_table_reserve (table, NULL));
                h[i] = phx_handle_table_add (table, dummy_file ());
                g_assert_cmpint (h[i]->id, ==, i + 1);
        }
        /* full: the slot is refused before anything is opened */
        g_assert_false (phx_handle_table_reserve (table, &error));
        g_assert_error (error, PHX_ERROR, EMFILE);
        g_clear_error (&error);

        g_assert_true (phx_handle_table_lookup (table, 2, NULL) == h[1]);
        /* a call admitted on a handle keeps it alive after the table lets go */
        kept = phx_handle_ref (h[1]);
        phx_handle_table_remove (table, h[1]);
        g_assert_null (phx_handle_table_lookup (table, 2, &error));
        g_assert_error (error, PHX_ERROR, EBADF);
        g_clear_error (&error);
        g_assert_cmpstr (kept->file->path, ==, "/dummy");
        phx_handle_unref (kept);
        g_assert_null (phx_handle_table_lookup (table, 0, NULL));
        g_assert_null (phx_handle_table_lookup (table, -5, NULL));
        /* a closing handle is unknown to later calls */
        h[0]->closing = TRUE;
        g_assert_null (phx_handle_table_lookup (table, 1, NULL));
        /* freed slots are reused, ids are not; a reservation counts as taken */
        g_assert_true (phx_handle_table_reserve (table, NULL));
        g_assert_false (phx_handle_table_reserve (table, NULL));
        phx_handle_table_unreserve (table);
        g_assert_true (phx_handle_table_reserve (table, NULL));
        g_assert_cmpint (phx_handle_table_add (table, dummy_file ())->id, ==, 4);
        g_assert_cmpuint (phx_handle_table_count (table), ==, 3);
}

/* A second face: another dialect's name and argument names over the same implementation. */
static JsonNode *
upper_reply (JsonNode *result)
{
        g_autofree char *up = g_ascii_strup (json_node_get_string (result), -1);

        json_node_unref (result);
        return json_node_init_string (json_node_alloc (), up);
}

static void
test_registry_faces (void)
{
        static const PhxArgSpec face_args[] = {
                { "handle", PHX_ARG_INT, PHX_ARG_REQUIRED, .as = "handle_id" },
                { "size", PHX_ARG_INT, 0, .def.i = 7, .min = 1, .max = 9, .as = "count" },
                { NULL }
        };
        static const PhxArgSpec wrong_args[] = { { "x", PHX_ARG_BOOL, 0, .as = "count" }, { NULL } };
        const PhxFace faces[] = {
                { PHX_DIALECT_PHOENIX, "read-other", "file-read", face_args, upper_reply },
                { 0 }
        };
        const PhxFace bad[] = { { PHX_DIALECT_PHOENIX, "bad", "file-read", wrong_args, NULL }, { 0 } };
        const PhxFace missing[] = { { PHX_DIALECT_PHOENIX, "none", "no-such-command", NULL, NULL }, { 0 } };
        g_autoptr(PhxRegistry) registry = phx_registry_new ();
        g_autoptr(JsonNode) args = phx_json_parse ("{\"handle\":5,\"size\":3}", 21, NULL);
        g_autoptr(PhxArgs) a = NULL;
        g_autoptr(GError) error = NULL;
        const PhxEntry *face, *row;
        JsonNode *reply;

        g_assert_true (phx_registry_add_faces (registry, PHX_TYPE_FILES_FAMILY, faces, &error));
        g_assert_no_error (error);
        face = phx_registry_lookup (registry, PHX_DIALECT_PHOENIX, "read-other");
        row = phx_registry_lookup (registry, PHX_DIALECT_PHOENIX, "file-read");
        g_assert_nonnull (face);
        g_assert_true (face->command == row->command);
        g_assert_true (face->family == row->family);
        /* the implementation reads the face's arguments by its own names */
        a = phx_args_validate (face->args, json_node_get_object (args), &error);
        g_assert_no_error (error);
        g_assert_cmpint (phx_args_get_int (a, "handle_id"), ==, 5);
        g_assert_cmpint (phx_args_get_int (a, "count"), ==, 3);
        reply = face->reply (json_node_init_string (json_node_alloc (), "ok"));
        g_assert_cmpstr (json_node_get_string (reply), ==, "OK");
        json_node_unref (reply);
        /* a face must map onto arguments the command has, of the same type */
        g_assert_false (phx_registry_add_faces (registry, PHX_TYPE_FILES_FAMILY, bad, NULL));
        g_assert_false (phx_registry_add_faces (registry, PHX_TYPE_FILES_FAMILY, missing, NULL));
        /* enabling by the face's name leaves the row off */
        {
                const char *const allow[] = { "read-other", NULL };
                g_assert_true (phx_registry_set_enabled (registry, allow, NULL, NULL));
                g_assert_true (phx_registry_is_enabled (registry, face));
                g_assert_false (phx_registry_is_enabled (registry, row));
        }
}

/* The one way from a line to a call: what the dispatcher, the config check and the fuzz
 * target use. */
static void
test_registry_prepare (void)
{
        const struct {
                const char *line, *tag, *name, *error;
        } cases[] = {
                { "{\"execute\":\"ping\",\"tag\":\"a\"}", "a", "ping", NULL },
                { "{\"execute\":\"file-read\",\"arguments\":{\"handle_id\":3},\"tag\":\"b\"}", "b", "file-read", NULL },
                { "{\"execute\":\"nope\",\"tag\":\"c\"}", "c", "nope", "Unknown command: nope" },
                { "{\"execute\":\"fs-freeze\",\"tag\":\"d\"}", "d", "fs-freeze", "Command fs-freeze is disabled" },
                { "{\"execute\":\"file-read\",\"tag\":\"e\"}", "e", "file-read", "missing required argument 'handle_id'" },
                { "[1]", "", NULL, "request must be a JSON object" },
        };
        const char *const block[] = { "fs-freeze", NULL };
        g_autoptr(PhxRegistry) registry = phx_registry_new ();

        g_assert_true (phx_registry_set_enabled (registry, NULL, block, NULL));
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                PhxPrepared p = { 0 };
                g_autoptr(GError) error = NULL;
                gboolean ok = phx_registry_prepare (registry, cases[i].line, strlen (cases[i].line), &p, &error);

                g_assert_cmpstr (p.tag, ==, cases[i].tag);
                g_assert_cmpstr (p.name, ==, cases[i].name);
                if (cases[i].error == NULL) {
                        g_assert_true (ok);
                        g_assert_no_error (error);
                        g_assert_cmpstr (p.entry->name, ==, cases[i].name);
                } else {
                        g_assert_false (ok);
                        g_assert_nonnull (strstr (error->message, cases[i].error));
                }
                phx_prepared_clear (&p);
        }
        {
                const char *const unknown[] = { "no-such", NULL };
                const char *const essential[] = { "ping", NULL };
                g_autoptr(GError) error = NULL;
                g_assert_false (phx_registry_check_command_list (unknown, FALSE, &error));
                g_assert_false (phx_registry_check_command_list (essential, TRUE, NULL));
                g_assert_true (phx_registry_check_command_list (essential, FALSE, NULL));
        }
}

/* qemu-ga's envelope: which requests are its, its checks in its order and words, and the
 * reply each gets (the exact bytes, compact, the id verbatim, one LF). */
static void
test_registry_prepare_qga (void)
{
        const struct {
                const char *line;
                PhxDialect dialect;
                const char *reply; /* as encoded; for Phoenix ones only the dialect is checked */
        } cases[] = {
                { "{\"execute\":\"guest-ping\"}", PHX_DIALECT_QGA, NULL },
                { "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":7},\"id\":{\"a\":[1,\"x\",null]}}",
                  PHX_DIALECT_QGA, NULL },
                { "{'execute':'guest-sync','arguments':{'id':-3},'id':'it\\'s \"q\"'}", PHX_DIALECT_QGA, NULL },
                { "{\"execute\":\"guest-nope\",\"id\":1.5}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command guest-nope has not been found\"},\"id\":1.5}\n" },
                { "{\"execute\":\"guest-fsfreeze-x\"}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command guest-fsfreeze-x has not been found\"}}\n" },
                { "{\"execute\":\"guest-ping\",\"id\":true}", PHX_DIALECT_QGA, NULL },
                { "{\"id\":1}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input lacks member 'execute'\"},\"id\":1}\n" },
                { "{\"execute\":[],\"id\":\"s\"}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member 'execute' must be a string\"},\"id\":\"s\"}\n" },
                { "{\"execute\":\"guest-ping\",\"arguments\":null}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member 'arguments' must be an object\"}}\n" },
                { "{\"execute\":\"guest-ping\",\"tag\":\"t\"}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member 'tag' is unexpected\"}}\n" },
                { "{\"execute\":\"guest-ping\",\"arguments\":{\"x\":1}}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'x' is unexpected\"}}\n" },
                { "{\"execute\":\"guest-sync\",\"arguments\":{}}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'id' is missing\"}}\n" },
                { "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":null}}", PHX_DIALECT_QGA,
                  "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Invalid parameter type for 'id', expected: integer\"}}\n" },
                { "{\"execute\":\"guest-ping\"", PHX_DIALECT_QGA, NULL },
                /* Phoenix stays Phoenix: no "guest-" name, or a tag */
                { "{\"execute\":\"ping\",\"id\":1}", PHX_DIALECT_PHOENIX, NULL },
                { "{\"execute\":\"ping\",\"tag\":\"guest-x\"}", PHX_DIALECT_PHOENIX, NULL },
                { "{\"id\":1,\"tag\":\"t\"}", PHX_DIALECT_PHOENIX, NULL },
                { "[\"guest-ping\"]", PHX_DIALECT_PHOENIX, NULL },
        };
        const char *const block[] = { "guest-ping", NULL };
        g_autoptr(PhxRegistry) registry = phx_registry_new ();

        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                PhxPrepared p = { 0 };
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) reply = NULL;
                gboolean ok = phx_registry_prepare (registry, cases[i].line, strlen (cases[i].line), &p, &error);

                g_test_message ("%s", cases[i].line);
                g_assert_cmpint (p.dialect, ==, cases[i].dialect);
                g_assert_true (ok == (error == NULL));
                if (p.dialect == PHX_DIALECT_QGA)
                        reply = ok ? phx_qga_reply_encode (NULL, p.id, FALSE) : phx_qga_reply_encode_error (error, p.id);
                if (cases[i].reply != NULL)
                        g_assert_cmpstr (g_bytes_get_data (reply, NULL), ==, cases[i].reply);
                phx_prepared_clear (&p);
        }

        /* the id comes back as it was, whatever its type; no value is {} */
        {
                const char *line = "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":7},\"id\":{\"a\":[1,\"x\",null]}}";
                PhxPrepared p = { 0 };
                g_autoptr(GBytes) reply = NULL;
                g_autoptr(GBytes) delimited = NULL;
                gsize len;
                const char *data;

                g_assert_true (phx_registry_prepare (registry, line, strlen (line), &p, NULL));
                g_assert_cmpint (phx_args_get_int (p.args, "id"), ==, 7);
                reply = phx_qga_reply_encode (json_node_init_int (json_node_alloc (), 7), p.id, FALSE);
                g_assert_cmpstr (g_bytes_get_data (reply, NULL), ==, "{\"return\":7,\"id\":{\"a\":[1,\"x\",null]}}\n");
                delimited = phx_qga_reply_encode (NULL, NULL, TRUE);
                data = g_bytes_get_data (delimited, &len);
                g_assert_cmpmem (data, len, "\xff{\"return\":{}}\n", 15);
                phx_prepared_clear (&p);
        }
        {
                const char *line = "{'execute':'guest-sync','arguments':{'id':-3},'id':'it\\'s \"q\"'}";
                PhxPrepared p = { 0 };
                g_autoptr(GBytes) reply = NULL;

                g_assert_true (phx_registry_prepare (registry, line, strlen (line), &p, NULL));
                reply = phx_qga_reply_encode (NULL, p.id, FALSE);
                g_assert_cmpstr (g_bytes_get_data (reply, NULL), ==, "{\"return\":{},\"id\":\"it's \\\"q\\\"\"}\n");
                phx_prepared_clear (&p);
        }

        /* a disabled command is not found, in qemu-ga's words; and allow/block lists know its names */
        g_assert_true (phx_registry_set_enabled (registry, NULL, block, NULL));
        {
                const char *line = "{\"execute\":\"guest-ping\",\"id\":2}";
                PhxPrepared p = { 0 };
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) reply = NULL;

                g_assert_false (phx_registry_prepare (registry, line, strlen (line), &p, &error));
                reply = phx_qga_reply_encode_error (error, p.id);
                g_assert_cmpstr (g_bytes_get_data (reply, NULL), ==,
                                 "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Command guest-ping has been disabled\"},\"id\":2}\n");
                phx_prepared_clear (&p);
        }
        {
                const char *const essential[] = { "guest-sync", NULL };
                const char *const unknown[] = { "guest-nope", NULL };

                g_assert_false (phx_registry_check_command_list (essential, TRUE, NULL));
                g_assert_true (phx_registry_check_command_list (block, TRUE, NULL));
                g_assert_false (phx_registry_check_command_list (unknown, FALSE, NULL));
        }
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/commands/tables", test_tables);
        g_test_add_func ("/commands/spec-check", test_spec_check_catches_mistakes);
        g_test_add_func ("/args/valid", test_args_valid);
        g_test_add_func ("/args/invalid", test_args_invalid);
        g_test_add_func ("/args/nodes", test_args_nodes);
        g_test_add_func ("/handles/table", test_handles);
        g_test_add_func ("/registry/faces", test_registry_faces);
        g_test_add_func ("/registry/prepare", test_registry_prepare);
        g_test_add_func ("/registry/prepare-qga", test_registry_prepare_qga);
        return g_test_run ();
}
