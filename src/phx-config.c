/* phx-config.c — reads /etc/phoenix-ga/phoenix-ga.conf (or --config FILE).
 *
 * GKeyFile parses the file and its values; it does not say on which line a problem is, so
 * the file is also walked line by line here, both to find the line of each key and to
 * report the syntax errors GKeyFile would only describe. Every problem stops the agent at
 * start with FILE:LINE: message — a setting that is silently ignored is worse than none. */
#define G_LOG_DOMAIN "phx-config"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "phx-config.h"
#include "phx-registry.h"
#include "phx-limits.h"

#define CONFIG_GROUP "general"

typedef enum {
        KEY_METHOD,
        KEY_STRING,
        KEY_BOOLEAN,
        KEY_SECONDS,
        KEY_COMMANDS,
} KeyKind;

static const struct {
        const char *name;
        KeyKind kind;
} config_keys[] = {
        { "method", KEY_METHOD },
        { "path", KEY_STRING },
        { "debug", KEY_BOOLEAN },
        { "freeze-timeout", KEY_SECONDS },
        { "fsfreeze-hook", KEY_STRING },
        { "runtime-dir", KEY_STRING },
        { "dbus", KEY_BOOLEAN },
        { "block-commands", KEY_COMMANDS },
        { "allow-commands", KEY_COMMANDS },
};

void
phx_config_init (PhxConfig *config)
{
        *config = (PhxConfig) {
                .method = PHX_METHOD_VIRTIO_SERIAL,
                .freeze_timeout = PHX_FREEZE_TIMEOUT_DEFAULT,
                .runtime_dir = g_strdup (PHX_DEFAULT_RUNTIME_DIR),
                .dbus = TRUE,
        };
}

void
phx_config_clear (PhxConfig *config)
{
        g_clear_pointer (&config->path, g_free);
        g_clear_pointer (&config->fsfreeze_hook, g_free);
        g_clear_pointer (&config->runtime_dir, g_free);
        g_clear_pointer (&config->block_commands, g_strfreev);
        g_clear_pointer (&config->allow_commands, g_strfreev);
}

const char *
phx_config_default_path (PhxMethod method)
{
        switch (method) {
        case PHX_METHOD_ISA_SERIAL:
                return PHX_DEFAULT_ISA_PATH;
        case PHX_METHOD_UNIX_LISTEN:
                return PHX_DEFAULT_SOCKET_PATH;
        case PHX_METHOD_VIRTIO_SERIAL:
        default:
                return PHX_DEFAULT_VIRTIO_PATH;
        }
}

/* "a, b,c" -> {"a", "b", "c"}; empty items are dropped. */
GStrv
phx_config_split_list (const char *text)
{
        g_auto(GStrv) items = g_strsplit (text, ",", -1);
        g_autoptr(GStrvBuilder) out = g_strv_builder_new ();

        for (guint i = 0; items[i] != NULL; i++) {
                g_strstrip (items[i]);
                if (items[i][0] != '\0')
                        g_strv_builder_add (out, items[i]);
        }
        return g_strv_builder_end (out);
}

static int
key_index (const char *name)
{
        for (guint i = 0; i < G_N_ELEMENTS (config_keys); i++) {
                if (g_str_equal (config_keys[i].name, name))
                        return (int) i;
        }
        return -1;
}

/* Walks the text: the line of each known key goes to `lines`; the first line GKeyFile's
 * grammar or our schema rejects is an error. */
static gboolean
scan_lines (const char *file, const char *text, guint lines[], GError **error)
{
        g_auto(GStrv) rows = g_strsplit (text, "\n", -1);
        gboolean in_general = FALSE;

        for (guint n = 0; rows[n] != NULL; n++) {
                char *row = g_strstrip (rows[n]);
                const char *eq;
                g_autofree char *key = NULL;
                int k;

                if (row[0] == '\0' || row[0] == '#')
                        continue;
                if (row[0] == '[') {
                        if (!g_str_has_suffix (row, "]")) {
                                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                                             _("%s:%u: a group header must end with ']'"), file, n + 1);
                                return FALSE;
                        }
                        in_general = g_str_equal (row, "[" CONFIG_GROUP "]");
                        if (!in_general) {
                                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                                             _("%s:%u: unknown group %s (the only group is [%s])"),
                                             file, n + 1, row, CONFIG_GROUP);
                                return FALSE;
                        }
                        continue;
                }
                eq = strchr (row, '=');
                if (eq == NULL) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                                     _("%s:%u: expected KEY=VALUE, a [group] or a # comment"), file, n + 1);
                        return FALSE;
                }
                if (!in_general) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                                     _("%s:%u: a key before the [%s] group"), file, n + 1, CONFIG_GROUP);
                        return FALSE;
                }
                key = g_strstrip (g_strndup (row, (gsize) (eq - row)));
                k = key_index (key);
                if (k < 0) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                                     _("%s:%u: unknown key '%s'"), file, n + 1, key);
                        return FALSE;
                }
                if (lines[k] != 0) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                                     _("%s:%u: '%s' is already set on line %u"), file, n + 1, key, lines[k]);
                        return FALSE;
                }
                lines[k] = n + 1;
        }
        return TRUE;
}

static void
replace_str (char **field, const char *value)
{
        g_free (*field);
        *field = g_strdup (value);
}

/* Sets `key` from its text, as the file or the command line gives it (booleans are flags on
 * the command line and GKeyFile's in the file, so they are not set here). Errors say what
 * is wrong with the value; the caller says where it came from. */
gboolean
phx_config_set (PhxConfig *config, const char *key, const char *value, GError **error)
{
        int k = key_index (key);
        gint64 seconds;

        g_return_val_if_fail (k >= 0 && config_keys[k].kind != KEY_BOOLEAN, FALSE);
        switch (config_keys[k].kind) {
        case KEY_METHOD:
                if (!phx_method_from_string (value, &config->method)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("unknown method '%s' (use virtio-serial, isa-serial or unix-listen)"), value);
                        return FALSE;
                }
                return TRUE;
        case KEY_STRING:
                if (g_str_equal (key, "path"))
                        replace_str (&config->path, value);
                else if (g_str_equal (key, "fsfreeze-hook"))
                        replace_str (&config->fsfreeze_hook, value);
                else
                        replace_str (&config->runtime_dir, value);
                return TRUE;
        case KEY_SECONDS:
                if (!g_ascii_string_to_signed (value, 10, 0, G_MAXUINT, &seconds, NULL)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not a number of seconds (0 or more)"), value);
                        return FALSE;
                }
                config->freeze_timeout = (guint) seconds;
                return TRUE;
        case KEY_COMMANDS: {
                g_auto(GStrv) list = phx_config_split_list (value);
                gboolean blocking = g_str_equal (key, "block-commands");

                if (!phx_registry_check_command_list ((const char *const *) list, blocking, error))
                        return FALSE;
                g_strfreev (blocking ? config->block_commands : config->allow_commands);
                *(blocking ? &config->block_commands : &config->allow_commands) = g_steal_pointer (&list);
                return TRUE;
        }
        case KEY_BOOLEAN:
                break;
        }
        g_assert_not_reached ();
}

/* Reads one key of the file into `config`; errors carry the key's line. */
static gboolean
read_key (PhxConfig *config, GKeyFile *kf, guint k, const char *where, GError **error)
{
        const char *name = config_keys[k].name;
        g_autoptr(GError) local = NULL;
        g_autofree char *text = g_key_file_get_string (kf, CONFIG_GROUP, name, &local);
        gboolean flag;

        if (text != NULL && config_keys[k].kind == KEY_BOOLEAN) {
                flag = g_key_file_get_boolean (kf, CONFIG_GROUP, name, &local);
                if (local != NULL) {
                        g_clear_error (&local);
                        g_set_error (&local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not a boolean (true or false)"), text);
                } else if (g_str_equal (name, "debug")) {
                        config->debug = flag;
                } else {
                        config->dbus = flag;
                }
        } else if (text != NULL && config_keys[k].kind == KEY_STRING && text[0] == '\0') {
                g_set_error (&local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                             _("an empty value (leave the key out for the default)"));
        } else if (text != NULL) {
                phx_config_set (config, name, text, &local);
        }
        if (local != NULL) {
                g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: %s: ", where, name);
                return FALSE;
        }
        return TRUE;
}

/* Loads `file` over `config`. A missing file is fine unless `must_exist`. */
gboolean
phx_config_load (PhxConfig *config, const char *file, gboolean must_exist, GError **error)
{
        g_autofree char *text = NULL;
        gsize len;
        g_autoptr(GError) local = NULL;
        g_autoptr(GKeyFile) kf = g_key_file_new ();
        guint lines[G_N_ELEMENTS (config_keys)] = { 0 };

        if (!g_file_get_contents (file, &text, &len, &local)) {
                if (!must_exist && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return TRUE;
                g_set_error (error, G_FILE_ERROR, local->code, "%s", local->message);
                return FALSE;
        }
        if (strlen (text) != len || !g_utf8_validate (text, (gssize) len, NULL)) {
                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING,
                             _("%s: not UTF-8 text"), file);
                return FALSE;
        }
        if (!scan_lines (file, text, lines, error))
                return FALSE;
        if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_NONE, &local)) {
                /* the scan accepts only what GKeyFile does; keep a message if they ever differ */
                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s: %s", file, local->message);
                return FALSE;
        }
        for (guint k = 0; k < G_N_ELEMENTS (config_keys); k++) {
                g_autofree char *where = NULL;

                if (lines[k] == 0)
                        continue;
                where = g_strdup_printf ("%s:%u", file, lines[k]);
                if (!read_key (config, kf, k, where, error))
                        return FALSE;
        }
        return TRUE;
}
