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
