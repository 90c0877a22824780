/* cmd-power.c — the power family: qemu-ga's guest-suspend-ram, -disk and -hybrid (the
 * execution, accounts and power issue adds guest-shutdown here). They answer only when they
 * fail (success-response: false): on success the guest suspends and the host sees QEMU's
 * SUSPEND event instead. What the machine offers is read in power-sysfs.c. */
#define G_LOG_DOMAIN "cmd-power"

#include "config.h"

#include "phx-family.h"
#include "power-sysfs.h"

/* In a worker: the write to /sys/power/state returns only once the guest is back. */
static JsonNode *
suspend (PhxCall *call, PhxSuspendMode mode, GError **error)
{
        g_autoptr(JsonObject) empty = NULL;

        if (!phx_power_suspend (mode, error))
                return NULL;
        empty = json_object_new ();
        return json_node_init_object (json_node_alloc (), empty);
}

static JsonNode *
suspend_ram (PhxCall *call, GError **error)
{
        return suspend (call, PHX_SUSPEND_RAM, error);
}

static JsonNode *
suspend_disk (PhxCall *call, GError **error)
{
        return suspend (call, PHX_SUSPEND_DISK, error);
}

static JsonNode *
suspend_hybrid (PhxCall *call, GError **error)
{
        return suspend (call, PHX_SUSPEND_HYBRID, error);
}

/* Not while frozen (qemu-ga refuses them too: a hibernation image is written to disk). One
 * at a time, in the family's lane: a second request waits for the guest to come back. */
static const PhxCommand power_commands[] = {
        { "qga-suspend-ram", suspend_ram, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { "qga-suspend-disk", suspend_disk, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { "qga-suspend-hybrid", suspend_hybrid, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { NULL }
};

static const PhxFace power_faces[] = {
        { PHX_DIALECT_QGA, "guest-suspend-disk", "qga-suspend-disk", NULL, NULL,
          PHX_FACE_STRICT | PHX_FACE_NO_SUCCESS_REPLY },
        { PHX_DIALECT_QGA, "guest-suspend-ram", "qga-suspend-ram", NULL, NULL,
          PHX_FACE_STRICT | PHX_FACE_NO_SUCCESS_REPLY },
        { PHX_DIALECT_QGA, "guest-suspend-hybrid", "qga-suspend-hybrid", NULL, NULL,
          PHX_FACE_STRICT | PHX_FACE_NO_SUCCESS_REPLY },
        { .name = NULL }
};

typedef struct {
        PhxFamily parent_instance;
} PhxPowerFamily;

typedef struct {
        PhxFamilyClass parent_class;
} PhxPowerFamilyClass;

G_DEFINE_TYPE (PhxPowerFamily, phx_power_family, PHX_TYPE_FAMILY)

static void
phx_power_family_class_init (PhxPowerFamilyClass *klass)
{
        PHX_FAMILY_CLASS (klass)->commands = power_commands;
        PHX_FAMILY_CLASS (klass)->faces = power_faces;
}

static void
phx_power_family_init (PhxPowerFamily *self)
{
}
