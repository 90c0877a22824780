/* phx-config.c — reads /etc/phoenix-ga/phoenix-ga.conf (or --config FILE).
 *
 * GKeyFile parses the file and its values; it does not say on which line a problem is, so
 * the file is also walked line by line here, both to find the line of each key and to
 * report the syntax errors GKeyFile would only describe. Every problem stops the agent at
 * start with FILE:LINE: message — a setting that is silently ignored is worse than none. */
#define G_LOG_DOMAIN "phx-config"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "phx-config.h"
#include "phx-registry.h"
#include "phx-limits.h"
#include "util-path.h"

#define CONFIG_GROUP "general"

typedef enum {
        KEY_METHOD,
        KEY_STRING,
        KEY_BOOLEAN,
        KEY_SECONDS,
        KEY_COMMANDS,
        KEY_MODE,
        KEY_DIALECT,
        KEY_MIB,
        KEY_COUNT,
        KEY_CHANNELS,
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
        { "socket-mode", KEY_MODE },
        { "dialect", KEY_DIALECT },
        { "exec-capture-max", KEY_MIB },
        { "clients-max", KEY_COUNT },
        { "client-idle-timeout", KEY_SECONDS },
        { "client-stall-timeout", KEY_SECONDS },
        { "vsock-any-peer", KEY_BOOLEAN },
        { "channels", KEY_CHANNELS },
        { "online-hotplug", KEY_BOOLEAN },
};

void
phx_config_init (PhxConfig *config)
{
        *config = (PhxConfig) {
                .method = PHX_METHOD_VIRTIO_SERIAL,
                .freeze_timeout = PHX_FREEZE_TIMEOUT_DEFAULT,
                .runtime_dir = g_strdup (PHX_DEFAULT_RUNTIME_DIR),
                .dbus = TRUE,
                .socket_mode = PHX_SOCKET_MODE_DEFAULT,
                .dialects = PHX_DIALECTS_ALL,
                .exec_capture_max = PHX_EXEC_CAPTURE_MAX,
                .clients_max = PHX_CLIENTS_DEFAULT,
                .client_idle_timeout = PHX_CLIENT_IDLE_TIMEOUT_DEFAULT,
                .client_stall_timeout = PHX_CLIENT_STALL_TIMEOUT_DEFAULT,
                .online_hotplug = TRUE,
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
        g_clear_pointer (&config->channels, g_strfreev);
}

/* One channel more, "METHOD:PATH" (vsock-listen:-1:7771, unix-listen:/run/x.sock). */
gboolean
phx_config_add_channel (PhxConfig *config, const char *spec, GError **error)
{
        PhxMethod method;
        const char *path;
        guint n = config->channels != NULL ? g_strv_length (config->channels) : 0;

        if (!phx_method_split (spec, &method, &path) || path[0] == '\0') {
                g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                             _("channel '%s' is not METHOD:PATH"), spec);
                return FALSE;
        }
        config->channels = g_renew (char *, config->channels, n + 2);
        config->channels[n] = g_strdup (spec);
        config->channels[n + 1] = NULL;
        return TRUE;
}

const char *
phx_config_default_path (PhxMethod method)
{
        switch (method) {
        case PHX_METHOD_ISA_SERIAL:
                return PHX_DEFAULT_ISA_PATH;
        case PHX_METHOD_UNIX_LISTEN:
                return PHX_DEFAULT_SOCKET_PATH;
        case PHX_METHOD_VSOCK_LISTEN:
                return NULL; /* no port is anyone's: -p CID:PORT is required */
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
                                     _("unknown method '%s' (use virtio-serial, isa-serial, unix-listen or vsock-listen)"), value);
                        return FALSE;
                }
                return TRUE;
        case KEY_STRING: {
                PhxMethod method;
                const char *path;

                /* METHOD:PATH names the first channel's method too */
                if (g_str_equal (key, "path") && phx_method_split (value, &method, &path)) {
                        config->method = method;
                        replace_str (&config->path, path);
                } else if (g_str_equal (key, "path"))
                        replace_str (&config->path, value);
                else if (g_str_equal (key, "fsfreeze-hook"))
                        replace_str (&config->fsfreeze_hook, value);
                else
                        replace_str (&config->runtime_dir, value);
                return TRUE;
        }
        case KEY_CHANNELS: {
                g_auto(GStrv) list = phx_config_split_list (value);

                g_clear_pointer (&config->channels, g_strfreev);
                for (guint i = 0; list[i] != NULL; i++) {
                        if (!phx_config_add_channel (config, list[i], error))
                                return FALSE;
                }
                return TRUE;
        }
        case KEY_SECONDS:
                if (!g_ascii_string_to_signed (value, 10, 0, g_str_equal (key, "freeze-timeout")
                                                                     ? G_MAXUINT : PHX_CLIENT_TIMEOUT_MAX,
                                               &seconds, NULL)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not a number of seconds (0 or more)"), value);
                        return FALSE;
                }
                if (g_str_equal (key, "client-idle-timeout"))
                        config->client_idle_timeout = (guint) seconds;
                else if (g_str_equal (key, "client-stall-timeout"))
                        config->client_stall_timeout = (guint) seconds;
                else
                        config->freeze_timeout = (guint) seconds;
                return TRUE;
        case KEY_COUNT:
                if (!g_ascii_string_to_signed (value, 10, 1, PHX_CLIENTS_LIMIT, &seconds, NULL)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not a number from 1 to %d"), value, PHX_CLIENTS_LIMIT);
                        return FALSE;
                }
                config->clients_max = (guint) seconds;
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
        case KEY_MODE: {
                guint64 mode;

                /* octal always, with or without the leading 0, as chmod(1) reads it; only
                 * permission bits: a socket has no use for set-ID or sticky bits */
                if (!g_ascii_string_to_unsigned (value, 8, 0, 0777, &mode, NULL)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not an octal mode from 0 to 0777"), value);
                        return FALSE;
                }
                config->socket_mode = (guint) mode;
                return TRUE;
        }
        case KEY_DIALECT:
                if (!phx_dialects_from_string (value, &config->dialects)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("unknown dialect '%s' (use both, phoenix or qemu-ga)"), value);
                        return FALSE;
                }
                return TRUE;
        case KEY_MIB: {
                guint64 mib;

                /* at least a page of a status reply; at most what the capture bound of all
                 * commands together leaves one command */
                if (!g_ascii_string_to_unsigned (value, 10, 1, PHX_EXEC_CAPTURE_TOTAL_MAX / (1024 * 1024), &mib,
                                                 NULL)) {
                        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                     _("'%s' is not a number of MiB from 1 to %u"), value,
                                     (unsigned) (PHX_EXEC_CAPTURE_TOTAL_MAX / (1024 * 1024)));
                        return FALSE;
                }
                config->exec_capture_max = (gsize) mib * 1024 * 1024;
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
                } else if (g_str_equal (name, "vsock-any-peer")) {
                        config->vsock_any_peer = flag;
                } else if (g_str_equal (name, "online-hotplug")) {
                        config->online_hotplug = flag;
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

/* The agent runs as root and obeys this file, and runs the hook as root: whoever may change
 * either owns the guest. Both must belong to root (or to the agent's own user when it is
 * not root), be writable by nobody else, and sit in directories nobody else can rename
 * them out of; a symbolic link on the way must belong to root too (util-path.c). */
static gboolean
check_owner_and_mode (const char *what, const char *path, const struct stat *st, GError **error)
{
        if (!util_path_is_trusted_owner (st->st_uid)) {
                g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                             _("%s %s: not trusted: owned by uid %u, not by root or the agent's user"),
                             what, path, (guint) st->st_uid);
                return FALSE;
        }
        if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
                g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                             _("%s %s: not trusted: writable by group or others (mode %04o)"),
                             what, path, (guint) (st->st_mode & 07777));
                return FALSE;
        }
        return TRUE;
}

/* Every directory above the file (links resolved): another user who may write to one of
 * them, where the sticky bit does not protect entries they do not own, can put another
 * file in its place. */
static gboolean
check_directories (const char *what, const char *path, GError **error)
{
        g_autofree char *real = realpath (path, NULL);
        g_autofree char *dir = NULL;

        if (real == NULL) /* gone since it was opened: reported by the caller's next step */
                return TRUE;
        dir = g_path_get_dirname (real);
        for (;;) {
                g_autofree char *up = NULL;
                struct stat st;

                if (stat (dir, &st) == 0 &&
                    (!util_path_is_trusted_owner (st.st_uid) ||
                     ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0))) {
                        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                                     _("%s %s: not trusted: directory %s may be changed by another user "
                                       "(owner uid %u, mode %04o)"),
                                     what, path, dir, (guint) st.st_uid, (guint) (st.st_mode & 07777));
                        return FALSE;
                }
                if (g_str_equal (dir, "/"))
                        return TRUE;
                up = g_path_get_dirname (dir);
                g_free (dir);
                dir = g_steal_pointer (&up);
        }
}

/* Opens `path` with `flags` (O_RDONLY to read it, O_PATH to check it only) once it passed
 * the checks above. ENOENT is left in a G_FILE_ERROR_NOENT for the caller to judge. */
static int
open_trusted (const char *what, const char *path, int flags, GError **error)
{
        g_autofree char *abs = g_canonicalize_filename (path, NULL);
        g_auto(UtilPath) where = UTIL_PATH_INIT;
        g_autoptr(GError) local = NULL;
        struct stat st;
        int fd, errsv;

        if (!util_path_resolve (abs, UTIL_PATH_FOLLOW_LAST, 0, &where, &local)) {
                const char *why = local->message;

                /* ELOOP names the link; the walk's message starts with the path, said already */
                errsv = local->code;
                if (g_str_has_prefix (why, abs) && g_str_has_prefix (why + strlen (abs), ": "))
                        why += strlen (abs) + 2;
                g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "%s %s: %s", what, path,
                             errsv == ELOOP ? why : g_strerror (errsv));
                return -1;
        }
        fd = openat (where.dirfd, where.name, flags | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || fstat (fd, &st) < 0) {
                errsv = errno;
                g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "%s %s: %s", what, path,
                             g_strerror (errsv));
                if (fd >= 0)
                        close (fd);
                return -1;
        }
        if (!S_ISREG (st.st_mode)) {
                g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, _("%s %s: not a regular file"), what, path);
        } else if (check_owner_and_mode (what, path, &st, error) && check_directories (what, abs, error)) {
                return fd;
        }
        close (fd);
        return -1;
}

/* The --fsfreeze-hook program: see open_trusted(). */
gboolean
phx_config_check_hook (const char *path, GError **error)
{
        int fd = open_trusted (_("fsfreeze hook"), path, O_PATH, error);

        if (fd < 0)
                return FALSE;
        close (fd);
        return TRUE;
}

/* Reads the whole file behind `fd`, within PHX_CONFIG_SIZE_MAX. */
static char *
read_all (int fd, const char *file, gsize *len, GError **error)
{
        g_autoptr(GByteArray) buf = g_byte_array_new ();
        guint8 chunk[4096];

        for (;;) {
                ssize_t n = read (fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int errsv = errno;
                        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv), "%s: %s", file,
                                     g_strerror (errsv));
                        return NULL;
                }
                if (n == 0)
                        break;
                if (buf->len + (gsize) n > PHX_CONFIG_SIZE_MAX) {
                        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, _("%s: larger than %u bytes"),
                                     file, (guint) PHX_CONFIG_SIZE_MAX);
                        return NULL;
                }
                g_byte_array_append (buf, chunk, (guint) n);
        }
        *len = buf->len;
        g_byte_array_append (buf, (const guint8 *) "", 1);
        return (char *) g_byte_array_free (g_steal_pointer (&buf), FALSE);
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

        int fd = open_trusted (_("configuration file"), file, O_RDONLY, &local);

        if (fd < 0) {
                if (!must_exist && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return TRUE;
                g_propagate_error (error, g_steal_pointer (&local));
                return FALSE;
        }
        text = read_all (fd, file, &len, error);
        close (fd);
        if (text == NULL)
                return FALSE;
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
