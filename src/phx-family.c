/* phx-family.c — the PhxFamily base class and the list of command families. */
#define G_LOG_DOMAIN "phx-family"

#include "phx-family.h"

typedef struct {
        PhxLane lane; /* PHX_CMD_SERIAL commands */
} PhxFamilyPrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (PhxFamily, phx_family, G_TYPE_OBJECT)

PhxLane *
phx_family_get_lane (PhxFamily *self)
{
        PhxFamilyPrivate *priv = phx_family_get_instance_private (self);

        return &priv->lane;
}

static gboolean
phx_family_real_admit (PhxFamily *self, PhxCall *call, GError **error)
{
        if (call->command->flags & PHX_CMD_SERIAL)
                call->lane = phx_family_get_lane (self);
        return TRUE;
}

/* qemu-ga answers a command with no value by an empty object; NULL is that "no value". */
JsonNode *
phx_face_no_value (JsonNode *result)
{
        json_node_unref (result);
        return NULL;
}

static void
phx_family_class_init (PhxFamilyClass *klass)
{
        klass->admit = phx_family_real_admit;
}

static void
phx_family_init (PhxFamily *self)
{
}


/* The command families: adding one is one line here (and its cmd-*.c). */
static GType (*const family_getters[]) (void) = {
        phx_agent_family_get_type,
        phx_files_family_get_type,
        phx_paths_family_get_type,
        phx_sysinfo_family_get_type,
        phx_network_family_get_type,
        phx_freeze_family_get_type,
        phx_exec_family_get_type,
        phx_login_family_get_type,
        phx_accounts_family_get_type,
        phx_storage_family_get_type,
        phx_power_family_get_type,
        phx_cpumem_family_get_type,
};

const GType *
phx_family_types (guint *n_types)
{
        static GType types[G_N_ELEMENTS (family_getters)];
        static gsize once;

        if (g_once_init_enter (&once)) {
                for (guint i = 0; i < G_N_ELEMENTS (family_getters); i++)
                        types[i] = family_getters[i] ();
                g_once_init_leave (&once, 1);
        }
        *n_types = G_N_ELEMENTS (types);
        return types;
}
