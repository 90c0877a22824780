/* phx-handler.c — the PhxHandler base class and the list of command families. */
#define G_LOG_DOMAIN "phx-handler"

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

GType *
phx_handler_family_types (guint *n_types)
{
        GType *types = g_new0 (GType, 7);
        guint n = 0;

        types[n++] = phx_agent_handler_get_type ();
        types[n++] = phx_files_handler_get_type ();
        types[n++] = phx_paths_handler_get_type ();
        types[n++] = phx_sysinfo_handler_get_type ();
        types[n++] = phx_network_handler_get_type ();
        types[n++] = phx_freeze_handler_get_type ();
        *n_types = n;
        return types;
}
