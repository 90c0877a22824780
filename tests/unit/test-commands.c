/* Command tables, argument specs and the handle table. */
#include <errno.h>

#include "phx-error.h"
#include "phx-handler.h"
#include "phx-handles.h"
#include "phx-json.h"
#include "phx-limits.h"

static GPtrArray *
all_commands (void)
{
        g_autofree GType *types = NULL;
        guint n;
        GPtrArray *cmds = g_ptr_array_new ();

        types = phx_handler_family_types (&n);
        for (guint i = 0; i < n; i++) {
                g_autoptr(PhxHandler) h = g_object_new (types[i], NULL);
                for (const PhxCommand *c = phx_handler_get_commands (h); c->name != NULL; c++)
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
                /* file I/O may block: it must never run on the main loop */
                if (c->flags & PHX_CMD_HANDLE)
                        g_assert_true (c->flags & PHX_CMD_THREADED);
                if (c->flags & PHX_CMD_HANDLE)
                        g_assert_cmpstr (c->args[0].name, ==, "handle_id");
                if (strstr (tests, quoted) == NULL)
                        g_error ("command %s has no protocol test", c->name);
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
        g_autoptr(PhxHandles) table = phx_handles_new (3);
        g_autoptr(GError) error = NULL;
        gint64 ids[3];

        for (guint i = 0; i < 3; i++) {
                ids[i] = phx_handles_insert (table, dummy_file (), NULL);
                g_assert_cmpint (ids[i], ==, i + 1);
        }
        g_assert_cmpint (phx_handles_insert (table, dummy_file (), &error), ==, 0);
        g_assert_error (error, PHX_ERROR, EMFILE);
        g_clear_error (&error);

        g_assert_nonnull (phx_handles_lookup (table, 2, NULL));
        phx_handles_remove (table, 2);
        g_assert_null (phx_handles_lookup (table, 2, &error));
        g_assert_error (error, PHX_ERROR, EBADF);
        g_clear_error (&error);
        g_assert_null (phx_handles_lookup (table, 0, NULL));
        g_assert_null (phx_handles_lookup (table, -5, NULL));
        /* freed slots are reused, ids are not */
        g_assert_cmpint (phx_handles_insert (table, dummy_file (), NULL), ==, 4);
        g_assert_cmpuint (phx_handles_count (table), ==, 3);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/commands/tables", test_tables);
        g_test_add_func ("/commands/spec-check", test_spec_check_catches_mistakes);
        g_test_add_func ("/args/valid", test_args_valid);
        g_test_add_func ("/args/invalid", test_args_invalid);
        g_test_add_func ("/handles/table", test_handles);
        return g_test_run ();
}
