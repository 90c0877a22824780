/* cmd-power.c — the power family: system-shutdown and qemu-ga's guest-shutdown (power-
 * shutdown.c), qemu-ga's guest-suspend-ram, -disk and -hybrid (power-sysfs.c). In qemu-ga's
 * dialect they answer only when they fail (success-response: false): on success the guest
 * goes down or suspends and the host sees QEMU's SHUTDOWN or SUSPEND event instead. */
#define G_LOG_DOMAIN "cmd-power"

#include "config.h"

#include <errno.h>

#include "phx-error.h"
#include "phx-family.h"
#include "power-shutdown.h"
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

/* In a worker: the init system may take a while to say yes. */
static JsonNode *
system_shutdown (PhxCall *call, GError **error)
{
        const char *text = phx_args_get_string (call->args, "mode");
        PhxShutdownMode mode;

        if (!phx_shutdown_mode_from_string (text, &mode)) {
                phx_error_set (error, EINVAL, "mode is invalid (valid values are: halt|powerdown|reboot");
                return NULL;
        }
        if (!phx_power_shutdown (mode, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxArgSpec shutdown_args[] = {
        { "mode", PHX_ARG_STRING, 0, .def.s = "powerdown" },
        { NULL }
};

/* qemu-ga answers nothing on success; on error, its usual reply */
static JsonNode *
no_value (JsonNode *result)
{
        json_node_unref (result);
        return NULL;
}

/* Not while frozen (qemu-ga refuses them too: a hibernation image is written to disk). One
 * at a time, in the family's lane: a second request waits for the guest to come back. */
static const PhxCommand power_commands[] = {
        /* the disks are synced first: not while frozen (the sync would wait for the thaw) */
        { "system-shutdown", system_shutdown, shutdown_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "qga-suspend-ram", suspend_ram, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { "qga-suspend-disk", suspend_disk, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { "qga-suspend-hybrid", suspend_hybrid, NULL, PHX_CMD_THREADED | PHX_CMD_SERIAL | PHX_CMD_FACE_ONLY },
        { NULL }
};

static const PhxFace power_faces[] = {
        { PHX_DIALECT_QGA, "guest-shutdown", "system-shutdown", NULL, no_value,
          PHX_FACE_STRICT | PHX_FACE_NO_SUCCESS_REPLY },
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
