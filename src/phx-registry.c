/* phx-registry.c — the command registry. Families register their rows (and any second
 * faces) through their classes; the registry answers "which command is this name", "is it
 * enabled" and, in phx_registry_prepare, turns a request line into a call ready to run:
 * envelope, lookup, enabled check, arguments. The dispatcher, the configuration check, the
 * unit tests and the fuzz target all go through here, so they run the same code.
 * Read-only once serving starts: prepare runs in worker threads too. */
#define G_LOG_DOMAIN "phx-registry"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <string.h>

#include "phx-error.h"
#include "phx-protocol.h"
#include "phx-qga.h"
#include "phx-registry.h"

struct _PhxRegistry {
        GObject parent_instance;
        GHashTable *by_name[PHX_N_DIALECTS]; /* name -> PhxEntry* */
        GPtrArray *entries;                  /* PhxEntry*, in registration order */
        GHashTable *disabled;                /* PhxEntry* */
        guint dialects;                      /* served: 1 << PhxDialect */
};

G_DEFINE_TYPE (PhxRegistry, phx_registry, G_TYPE_OBJECT)

void
phx_prepared_clear (PhxPrepared *prepared)
{
        g_clear_pointer (&prepared->tag, g_free);
        g_clear_pointer (&prepared->name, g_free);
        g_clear_pointer (&prepared->args, phx_args_free);
        g_clear_pointer (&prepared->id, json_node_unref);
        prepared->entry = NULL;
}

/* The `dialect` setting's words. */
static const struct {
        const char *name;
        guint dialects;
} dialect_names[] = {
        { "both", PHX_DIALECTS_ALL },
        { "phoenix", 1u << PHX_DIALECT_PHOENIX },
        { "qemu-ga", 1u << PHX_DIALECT_QGA },
};

gboolean
phx_dialects_from_string (const char *text, guint *dialects)
{
        for (guint i = 0; i < G_N_ELEMENTS (dialect_names); i++) {
                if (g_str_equal (text, dialect_names[i].name)) {
                        *dialects = dialect_names[i].dialects;
                        return TRUE;
                }
        }
        return FALSE;
}

const char *
phx_dialects_to_string (guint dialects)
{
        for (guint i = 0; i < G_N_ELEMENTS (dialect_names); i++) {
                if (dialect_names[i].dialects == dialects)
                        return dialect_names[i].name;
        }
        return "both";
}

/* A port restricted to one dialect still tells the other dialect's requests apart and
 * refuses them in their own dialect, so their host can read why: the request is never run. */
void
phx_registry_set_dialects (PhxRegistry *self, guint dialects)
{
        g_return_if_fail ((dialects & PHX_DIALECTS_ALL) != 0);
        self->dialects = dialects & PHX_DIALECTS_ALL;
}

static gboolean
serves (PhxRegistry *self, PhxDialect dialect)
{
        return (self->dialects & (1u << dialect)) != 0;
}

static void
add_entry (PhxRegistry *self, PhxDialect dialect, const char *name, const PhxCommand *command,
           const PhxArgSpec *args, PhxReplyAdapter reply, PhxFaceFlags flags, GType family)
{
        PhxEntry *entry = g_new0 (PhxEntry, 1);

        if (g_hash_table_contains (self->by_name[dialect], name))
                g_error ("command %s registered twice", name);
        entry->dialect = dialect;
        entry->name = name;
        entry->command = command;
        entry->args = args;
        entry->reply = reply;
        entry->flags = flags;
        entry->family = family;
        g_hash_table_insert (self->by_name[dialect], (gpointer) name, entry);
        g_ptr_array_add (self->entries, entry);
}

static const PhxCommand *
find_row (const PhxCommand *rows, const char *name)
{
        for (const PhxCommand *c = rows; c->name != NULL; c++) {
                if (g_str_equal (c->name, name))
                        return c;
        }
        return NULL;
}

/* A face must name a row of its family, and each argument it renames must be one the row
 * reads, of the same type: the implementation is shared, so nothing else can differ. */
gboolean
phx_registry_add_faces (PhxRegistry *self, GType family, const PhxFace *faces, GError **error)
{
        g_autoptr(GTypeClass) klass = g_type_class_ref (family);
        const PhxCommand *rows = PHX_FAMILY_CLASS (klass)->commands;

        for (const PhxFace *f = faces; f != NULL && f->name != NULL; f++) {
                const PhxCommand *row = find_row (rows, f->command);

                if (row == NULL) {
                        phx_error_set (error, EINVAL, "face %s: no command %s", f->name, f->command);
                        return FALSE;
                }
                for (const PhxArgSpec *a = f->args; a != NULL && a->name != NULL; a++) {
                        const char *inner = a->as != NULL ? a->as : a->name;
                        const PhxArgSpec *r = row->args;

                        while (r != NULL && r->name != NULL && !g_str_equal (r->name, inner))
                                r++;
                        if (r == NULL || r->name == NULL || r->type != a->type) {
                                phx_error_set (error, EINVAL, "face %s: argument %s matches none of %s's",
                                               f->name, a->name, row->name);
                                return FALSE;
                        }
                }
                add_entry (self, f->dialect, f->name, row, f->args != NULL ? f->args : row->args, f->reply,
                           f->flags, family);
        }
        return TRUE;
}

const PhxEntry *
phx_registry_lookup (PhxRegistry *self, PhxDialect dialect, const char *name)
{
        return g_hash_table_lookup (self->by_name[dialect], name);
}

/* ping and get-commands stay: without them a host cannot tell the agent is alive or learn
 * what it may ask. qemu-ga's hosts need the same of guest-sync (libvirt sends it before
 * anything else), guest-sync-delimited and guest-info. */
gboolean
phx_registry_command_essential (const char *name)
{
        static const char *const names[] = { "ping", "get-commands", "guest-sync", "guest-sync-delimited",
                                             "guest-info", NULL };

        return g_strv_contains (names, name);
}

static gboolean
check_list (PhxRegistry *self, const char *const *names, gboolean blocking, GError **error)
{
        for (guint i = 0; names != NULL && names[i] != NULL; i++) {
                gboolean known = FALSE;

                for (guint d = 0; d < PHX_N_DIALECTS; d++)
                        known = known || g_hash_table_contains (self->by_name[d], names[i]);
                if (!known) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("unknown command '%s'"), names[i]);
                        return FALSE;
                }
                if (blocking && phx_registry_command_essential (names[i])) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("'%s' cannot be disabled"), names[i]);
                        return FALSE;
                }
        }
        return TRUE;
}

/* Checks an allow or block list (from the command line or the configuration file): every
 * name known, and no essential one blocked. */
gboolean
phx_registry_check_command_list (const char *const *names, gboolean blocking, GError **error)
{
        g_autoptr(PhxRegistry) registry = phx_registry_new ();

        return check_list (registry, names, blocking, error);
}

gboolean
phx_registry_set_enabled (PhxRegistry *self, const char *const *allow, const char *const *block, GError **error)
{
        if (!check_list (self, allow, FALSE, error)) {
                g_prefix_error (error, "allow-commands: ");
                return FALSE;
        }
        if (!check_list (self, block, TRUE, error)) {
                g_prefix_error (error, "block-commands: ");
                return FALSE;
        }
        g_hash_table_remove_all (self->disabled);
        for (guint i = 0; i < self->entries->len; i++) {
                PhxEntry *entry = g_ptr_array_index (self->entries, i);
                gboolean off = (allow != NULL && !g_strv_contains (allow, entry->name) &&
                                !phx_registry_command_essential (entry->name)) ||
                               (block != NULL && g_strv_contains (block, entry->name));

                if (off)
                        g_hash_table_add (self->disabled, entry);
        }
        /* A row that needs another is off wherever that one is, in each dialect: login is a
         * way to run commands, so a host that may not run them may not log in. */
        for (guint i = 0; i < self->entries->len; i++) {
                PhxEntry *entry = g_ptr_array_index (self->entries, i);

                for (guint j = 0; entry->command->requires != NULL && j < self->entries->len; j++) {
                        PhxEntry *needed = g_ptr_array_index (self->entries, j);

                        if (needed->dialect == entry->dialect &&
                            g_strcmp0 (needed->command->name, entry->command->requires) == 0 &&
                            g_hash_table_contains (self->disabled, needed))
                                g_hash_table_add (self->disabled, entry);
                }
        }
        return TRUE;
}

gboolean
phx_registry_is_enabled (PhxRegistry *self, const PhxEntry *entry)
{
        return !g_hash_table_contains (self->disabled, entry);
}

/* Names of one dialect, in registration order. */
GPtrArray *
phx_registry_list (PhxRegistry *self, PhxDialect dialect, gboolean enabled_only)
{
        GPtrArray *names = g_ptr_array_new ();

        for (guint i = 0; i < self->entries->len; i++) {
                const PhxEntry *entry = g_ptr_array_index (self->entries, i);

                if (entry->dialect == dialect && (!enabled_only || phx_registry_is_enabled (self, entry)))
                        g_ptr_array_add (names, (gpointer) entry->name);
        }
        return names;
}

/* qemu-ga's envelope, in the order qemu-ga checks it (and with its texts, which its clients
 * match on): members, then `execute`, then the command, then its arguments. */
static gboolean
prepare_qga (PhxRegistry *self, JsonNode *root, PhxPrepared *out, GError **error)
{
        JsonObject *obj = json_node_get_object (root);
        JsonObject *arguments = NULL;
        JsonObjectIter iter;
        const char *member;
        JsonNode *node;
        const PhxEntry *entry;

        out->dialect = PHX_DIALECT_QGA;
        out->tag = g_strdup ("");
        node = json_object_get_member (obj, "id");
        if (node != NULL)
                out->id = json_node_copy (node);
        json_object_iter_init (&iter, obj);
        while (json_object_iter_next (&iter, &member, &node)) {
                if (g_str_equal (member, "execute")) {
                        if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
                                phx_error_set (error, EINVAL, "QMP input member 'execute' must be a string");
                                return FALSE;
                        }
                } else if (g_str_equal (member, "arguments")) {
                        if (!JSON_NODE_HOLDS_OBJECT (node)) {
                                phx_error_set (error, EINVAL, "QMP input member 'arguments' must be an object");
                                return FALSE;
                        }
                        arguments = json_node_get_object (node);
                } else if (!g_str_equal (member, "id")) {
                        phx_error_set (error, EINVAL, "QMP input member '%s' is unexpected", member);
                        return FALSE;
                }
        }
        if (!json_object_has_member (obj, "execute")) {
                phx_error_set (error, EINVAL, "QMP input lacks member 'execute'");
                return FALSE;
        }
        out->name = g_strdup (json_object_get_string_member (obj, "execute"));
        entry = phx_registry_lookup (self, out->dialect, out->name);
        if (entry == NULL) {
                g_set_error (error, PHX_QGA_ERROR, PHX_QGA_ERROR_COMMAND_NOT_FOUND,
                             "The command %s has not been found", out->name);
                return FALSE;
        }
        if (!serves (self, PHX_DIALECT_QGA)) {
                /* qemu-ga's text for a disabled command, with a reason as qemu-ga gives one */
                g_set_error (error, PHX_QGA_ERROR, PHX_QGA_ERROR_COMMAND_NOT_FOUND,
                             "Command %s has been disabled: this port serves only the Phoenix dialect", out->name);
                return FALSE;
        }
        if (!phx_registry_is_enabled (self, entry)) {
                g_set_error (error, PHX_QGA_ERROR, PHX_QGA_ERROR_COMMAND_NOT_FOUND,
                             "Command %s has been disabled", out->name);
                return FALSE;
        }
        out->args = phx_args_validate_mode (entry->args, arguments,
                                            (entry->flags & PHX_FACE_STRICT) ? PHX_ARGS_STRICT : 0, error);
        if (out->args == NULL)
                return FALSE;
        out->entry = entry;
        return TRUE;
}

/* Envelope, lookup, enabled check, arguments. On failure out->tag (and out->name, when it
 * could be read; out->id in qemu-ga's dialect) are still set, so the error can be answered
 * to what the host sent. The request itself says which dialect it is in (phx-qga.c); the
 * Phoenix reader's fast path runs first unless the line might be qemu-ga's. Thread-safe. */
gboolean
phx_registry_prepare (PhxRegistry *self, const char *line, gsize len, PhxPrepared *out, GError **error)
{
        g_autoptr(PhxRequest) req = phx_request_parse_simple (line, len);
        const PhxEntry *entry;

        /* {"execute":"NAME","tag":"T"} is decided by its name alone; anything else that
         * might be qemu-ga's is read as a tree once */
        if ((req != NULL && g_str_has_prefix (req->execute, "guest-")) ||
            (req == NULL && phx_qga_might_be (line, len))) {
                g_autoptr(GError) local = NULL;
                g_autoptr(JsonNode) root = phx_qga_parse (line, len, &local);

                if (root != NULL && phx_qga_is_request (root))
                        return prepare_qga (self, root, out, error);
                /* a request that names a qemu-ga command but is not JSON is answered in
                 * qemu-ga's dialect; anything else unreadable in Phoenix's, as before */
                if (root == NULL && (memmem (line, len, "\"guest-", 7) || memmem (line, len, "'guest-", 7))) {
                        out->dialect = PHX_DIALECT_QGA;
                        out->tag = g_strdup ("");
                        phx_error_set (error, EINVAL, "%s", local->message);
                        return FALSE;
                }
        }
        /* the request's strings are moved, not copied: this is every request's path */
        if (req != NULL)
                out->tag = g_steal_pointer (&req->tag);
        else
                req = phx_request_parse (line, len, &out->tag, error);
        out->dialect = PHX_DIALECT_PHOENIX;
        if (req == NULL)
                return FALSE;
        out->name = g_steal_pointer (&req->execute);
        entry = phx_registry_lookup (self, out->dialect, out->name);
        if (entry == NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC, "Unknown command: %s", out->name);
                return FALSE;
        }
        if (!serves (self, PHX_DIALECT_PHOENIX)) {
                phx_error_set (error, PHX_ERROR_GENERIC,
                               "Command %s is disabled: this port serves only the qemu-ga dialect", out->name);
                return FALSE;
        }
        if (!phx_registry_is_enabled (self, entry)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "Command %s is disabled", out->name);
                return FALSE;
        }
        out->args = phx_args_validate (entry->args, req->arguments, error);
        if (out->args == NULL) {
                g_prefix_error (error, "%s: ", out->name);
                return FALSE;
        }
        out->entry = entry;
        return TRUE;
}

static void
phx_registry_finalize (GObject *object)
{
        PhxRegistry *self = PHX_REGISTRY (object);

        for (guint d = 0; d < PHX_N_DIALECTS; d++)
                g_hash_table_unref (self->by_name[d]);
        g_ptr_array_unref (self->entries);
        g_hash_table_unref (self->disabled);
        G_OBJECT_CLASS (phx_registry_parent_class)->finalize (object);
}

static void
phx_registry_class_init (PhxRegistryClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = phx_registry_finalize;
}

static void
phx_registry_init (PhxRegistry *self)
{
        guint n_types;
        const GType *types = phx_family_types (&n_types);

        for (guint d = 0; d < PHX_N_DIALECTS; d++)
                self->by_name[d] = g_hash_table_new (g_str_hash, g_str_equal);
        self->entries = g_ptr_array_new_with_free_func (g_free);
        self->disabled = g_hash_table_new (NULL, NULL);
        self->dialects = PHX_DIALECTS_ALL;
        for (guint i = 0; i < n_types; i++) {
                g_autoptr(GTypeClass) klass = g_type_class_ref (types[i]);
                PhxFamilyClass *fclass = PHX_FAMILY_CLASS (klass);

                for (const PhxCommand *c = fclass->commands; c->name != NULL; c++) {
                        if (!(c->flags & PHX_CMD_FACE_ONLY))
                                add_entry (self, PHX_DIALECT_PHOENIX, c->name, c, c->args, NULL, 0, types[i]);
                }
                if (fclass->faces != NULL && !phx_registry_add_faces (self, types[i], fclass->faces, NULL))
                        g_error ("family %s has a face that matches none of its commands", g_type_name (types[i]));
        }
}

PhxRegistry *
phx_registry_new (void)
{
        return g_object_new (PHX_TYPE_REGISTRY, NULL);
}
