/* phx-handler.c — the PhxHandler base class and the list of command families. */
#define G_LOG_DOMAIN "phx-handler"

#include "config.h"

#include <glib/gi18n.h>

#include "phx-handler.h"

G_DEFINE_ABSTRACT_TYPE (PhxHandler, phx_handler, G_TYPE_OBJECT)

static void
phx_handler_class_init (PhxHandlerClass *klass)
{
}

static void
phx_handler_init (PhxHandler *self)
{
}

const PhxCommand *
phx_handler_get_commands (PhxHandler *self)
{
        return PHX_HANDLER_GET_CLASS (self)->commands;
}

/* The command families: adding one is one line here (and its cmd-*.c). */
static GType (*const family_get_types[]) (void) = {
        phx_agent_handler_get_type,
        phx_files_handler_get_type,
        phx_paths_handler_get_type,
        phx_sysinfo_handler_get_type,
        phx_network_handler_get_type,
        phx_freeze_handler_get_type,
};

GType *
phx_handler_family_types (guint *n_types)
{
        GType *types = g_new0 (GType, G_N_ELEMENTS (family_get_types));

        for (guint i = 0; i < G_N_ELEMENTS (family_get_types); i++)
                types[i] = family_get_types[i] ();
        *n_types = G_N_ELEMENTS (family_get_types);
        return types;
}

/* Whether `name` is a command of some family (the tables are static: no handler needed). */
gboolean
phx_handler_command_known (const char *name)
{
        for (guint i = 0; i < G_N_ELEMENTS (family_get_types); i++) {
                g_autoptr(GTypeClass) klass = g_type_class_ref (family_get_types[i] ());

                for (const PhxCommand *c = ((PhxHandlerClass *) klass)->commands; c->name != NULL; c++) {
                        if (g_str_equal (c->name, name))
                                return TRUE;
                }
        }
        return FALSE;
}

/* ping and get-commands stay: without them a host cannot tell the agent is alive or learn
 * what it may ask. */
gboolean
phx_handler_command_essential (const char *name)
{
        return g_str_equal (name, "ping") || g_str_equal (name, "get-commands");
}

/* Checks an allow or block list: every name known, and no essential one blocked. */
gboolean
phx_handler_check_command_list (const char *const *names, gboolean blocking, GError **error)
{
        for (guint i = 0; names != NULL && names[i] != NULL; i++) {
                if (!phx_handler_command_known (names[i])) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("unknown command '%s'"), names[i]);
                        return FALSE;
                }
                if (blocking && phx_handler_command_essential (names[i])) {
                        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                     _("'%s' cannot be disabled"), names[i]);
                        return FALSE;
                }
        }
        return TRUE;
}
