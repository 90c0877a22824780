/* cmd-cpumem.c — vCPUs and memory blocks: qemu-ga's guest-get/set-vcpus, guest-get/set-
 * memory-blocks and guest-get-memory-block-info, and (beyond qemu-ga) bringing online what
 * the host hot-adds, on the kernel's word (uevents). The family owns that watcher and the
 * queue of units waiting to go online; sysfs itself is read and written in sysfs-cpumem.c. */
#define G_LOG_DOMAIN "cmd-cpumem"

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>

#include "cmd-cpumem.h"
#include "phx-error.h"
#include "phx-limits.h"
#include "phx-uevent.h"
#include "phx-workers.h"
#include "sysfs-cpumem.h"

typedef enum { UNIT_VCPU, UNIT_MEMORY_BLOCK } UnitKind;

/* One hot-added unit on its way online, and (from the worker) what became of it. */
typedef struct {
        UnitKind kind;
        guint64 id;
        gboolean changed;
        int errsv;       /* 0: no failure */
        char *message;   /* the failure, for the log */
} Hotplug;

struct _PhxCpumemFamily {
        PhxFamily parent_instance;
        gboolean online_hotplug;
        PhxUevent *uevents;
        GArray *pending;   /* of Hotplug: waiting for the worker */
        gboolean onlining; /* a worker is bringing a batch online */
};

enum { PROP_0, PROP_ONLINE_HOTPLUG, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PhxCpumemFamily, phx_cpumem_family, PHX_TYPE_FAMILY)

/* ---- the qemu-ga commands ---- */

static JsonNode *
units_to_json (GArray *units, const char *id_member)
{
        g_autoptr(JsonArray) arr = json_array_sized_new (units->len);

        for (guint i = 0; i < units->len; i++) {
                const PhxSysfsUnit *u = &g_array_index (units, PhxSysfsUnit, i);
                JsonObject *o = json_object_new ();

                json_object_set_int_member (o, id_member, (gint64) u->id);
                json_object_set_boolean_member (o, "online", u->online);
                /* libvirt refuses a vCPU without it, although the schema calls it optional */
                json_object_set_boolean_member (o, "can-offline", u->can_offline);
                json_array_add_object_element (arr, o);
        }
        return json_node_init_array (json_node_alloc (), arr);
}

static JsonNode *
qga_get_vcpus (PhxCall *call, GError **error)
{
        g_autoptr(GArray) units = phx_sysfs_vcpus_read (error);

        return units != NULL ? units_to_json (units, "logical-id") : NULL;
}

static JsonNode *
qga_get_memory_blocks (PhxCall *call, GError **error)
{
        g_autoptr(GArray) units = phx_sysfs_memory_blocks_read (error);

        /* [] from a kernel without memory hotplug (no /sys/devices/system/memory), as qemu-ga */
        return units != NULL ? units_to_json (units, "phys-index") : NULL;
}

static JsonNode *
qga_get_memory_block_info (PhxCall *call, GError **error)
{
        g_autoptr(JsonObject) info = json_object_new ();
        guint64 size;

        if (!phx_sysfs_memory_block_size (&size, error))
                return NULL;
        json_object_set_int_member (info, "size", (gint64) size);
        return json_node_init_object (json_node_alloc (), g_steal_pointer (&info));
}

/* The members of one list element, as QAPI checks them: in this order, then anything else. */
typedef enum { MEMBER_INT, MEMBER_UINT, MEMBER_BOOL } MemberType;

typedef struct {
        const char *name;
        MemberType type;
        gboolean required;
} Member;

static const Member vcpu_members[] = {
        { "logical-id", MEMBER_INT, TRUE },
        { "online", MEMBER_BOOL, TRUE },
        { "can-offline", MEMBER_BOOL, FALSE }, /* the same type as get's: accepted, unused */
        { NULL }
};

static const Member memblk_members[] = {
        { "phys-index", MEMBER_UINT, TRUE },
        { "online", MEMBER_BOOL, TRUE },
        { "can-offline", MEMBER_BOOL, FALSE },
        { NULL }
};

static gboolean
holds (JsonNode *node, GType type)
{
        return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* Every element is checked before anything changes, as qemu-ga does, and refused in its
 * words. A uint64 is an integer of 0 or more here: qemu-ga also takes -1 for 2^64 - 1 (and
 * then reports block 18446744073709551615 not found); we refuse it. */
static gboolean
check_elements (JsonArray *arr, const char *list, const Member *members, GError **error)
{
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonNode *el = json_array_get_element (arr, i);
                JsonObjectIter iter;
                const char *name;
                JsonNode *value;

                if (!JSON_NODE_HOLDS_OBJECT (el)) {
                        phx_error_set (error, EINVAL, "Invalid parameter type for '%s[%u]', expected: object", list,
                                       i);
                        return FALSE;
                }
                for (const Member *m = members; m->name != NULL; m++) {
                        value = json_object_get_member (json_node_get_object (el), m->name);
                        if (value == NULL) {
                                if (!m->required)
                                        continue;
                                phx_error_set (error, EINVAL, "Parameter '%s[%u].%s' is missing", list, i, m->name);
                                return FALSE;
                        }
                        if (m->type == MEMBER_UINT &&
                            (!holds (value, G_TYPE_INT64) || json_node_get_int (value) < 0)) {
                                phx_error_set (error, EINVAL, "Parameter '%s[%u].%s' expects uint64", list, i,
                                               m->name);
                                return FALSE;
                        }
                        if (m->type != MEMBER_UINT &&
                            !holds (value, m->type == MEMBER_INT ? G_TYPE_INT64 : G_TYPE_BOOLEAN)) {
                                phx_error_set (error, EINVAL, "Invalid parameter type for '%s[%u].%s', expected: %s",
                                               list, i, m->name, m->type == MEMBER_INT ? "integer" : "boolean");
                                return FALSE;
                        }
                }
                json_object_iter_init (&iter, json_node_get_object (el));
                while (json_object_iter_next (&iter, &name, &value)) {
                        const Member *m = members;

                        while (m->name != NULL && !g_str_equal (m->name, name))
                                m++;
                        if (m->name == NULL) {
                                phx_error_set (error, EINVAL, "Parameter '%s[%u].%s' is unexpected", list, i, name);
                                return FALSE;
                        }
                }
        }
        return TRUE;
}

/* In order; the first failure ends the run. Its error is the reply only when nothing was
 * done yet, otherwise the count says how far it got (the host asks again for the rest). */
static JsonNode *
qga_set_vcpus (PhxCall *call, GError **error)
{
        JsonArray *arr = json_node_get_array (phx_args_get_node (call->args, "vcpus"));
        gint64 processed = 0;

        if (!check_elements (arr, "vcpus", vcpu_members, error))
                return NULL;
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *o = json_array_get_object_element (arr, i);
                g_autoptr(GError) local = NULL;

                if (!phx_sysfs_vcpu_set (json_object_get_int_member (o, "logical-id"),
                                         json_object_get_boolean_member (o, "online"), NULL, &local)) {
                        if (processed == 0) {
                                g_propagate_error (error, g_steal_pointer (&local));
                                return NULL;
                        }
                        g_debug ("set-vcpus stops after %" G_GINT64_FORMAT ": %s", processed, local->message);
                        break;
                }
                processed++;
        }
        return json_node_init_int (json_node_alloc (), processed);
}

/* Every block gets its own response; a failure does not stop the others. */
static JsonNode *
qga_set_memory_blocks (PhxCall *call, GError **error)
{
        JsonArray *arr = json_node_get_array (phx_args_get_node (call->args, "mem-blks"));
        g_autoptr(JsonArray) out = NULL;

        if (!check_elements (arr, "mem-blks", memblk_members, error))
                return NULL;
        out = json_array_sized_new (json_array_get_length (arr));
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonObject *o = json_array_get_object_element (arr, i);
                gint64 index = json_object_get_int_member (o, "phys-index");
                JsonObject *r = json_object_new ();
                int errsv;
                PhxMemblkResponse response = phx_sysfs_memory_block_set (
                        (guint64) index, json_object_get_boolean_member (o, "online"), NULL, &errsv);

                json_object_set_int_member (r, "phys-index", index);
                json_object_set_string_member (r, "response", phx_memblk_response_to_string (response));
                if (response != PHX_MEMBLK_SUCCESS)
                        json_object_set_int_member (r, "error-code", errsv);
                json_array_add_object_element (out, r);
        }
        return json_node_init_array (json_node_alloc (), g_steal_pointer (&out));
}

static const PhxArgSpec set_vcpus_args[] = {
        { "vcpus", PHX_ARG_ARRAY, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec set_memory_blocks_args[] = {
        { "mem-blks", PHX_ARG_ARRAY, PHX_ARG_REQUIRED },
        { NULL }
};

/* Reads are allowed while frozen (sysfs is no disk). Writes run one at a time, in order, in
 * a worker: bringing a vCPU up takes the kernel milliseconds to seconds, and taking a memory
 * block offline migrates its pages, retried for as long as they can move (LONG). */
static const PhxCommand cpumem_commands[] = {
        { "qga-get-vcpus", qga_get_vcpus, NULL, PHX_CMD_FACE_ONLY | PHX_CMD_FROZEN_OK | PHX_CMD_THREADED },
        { "qga-set-vcpus", qga_set_vcpus, set_vcpus_args, PHX_CMD_FACE_ONLY | PHX_CMD_SERIAL | PHX_CMD_THREADED },
        { "qga-get-memory-blocks", qga_get_memory_blocks, NULL,
          PHX_CMD_FACE_ONLY | PHX_CMD_FROZEN_OK | PHX_CMD_THREADED },
        { "qga-set-memory-blocks", qga_set_memory_blocks, set_memory_blocks_args,
          PHX_CMD_FACE_ONLY | PHX_CMD_SERIAL | PHX_CMD_THREADED | PHX_CMD_LONG },
        { "qga-get-memory-block-info", qga_get_memory_block_info, NULL, PHX_CMD_FACE_ONLY | PHX_CMD_FROZEN_OK },
        { NULL }
};

static const PhxFace cpumem_faces[] = {
        { PHX_DIALECT_QGA, "guest-get-vcpus", "qga-get-vcpus", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-set-vcpus", "qga-set-vcpus", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-memory-blocks", "qga-get-memory-blocks", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-set-memory-blocks", "qga-set-memory-blocks", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-get-memory-block-info", "qga-get-memory-block-info", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

/* ---- hot-added units go online ---- */

static void
hotplug_clear (gpointer data)
{
        g_free (((Hotplug *) data)->message);
}

static const char *
unit_word (UnitKind kind)
{
        return kind == UNIT_VCPU ? "vCPU" : "memory block";
}

/* In a worker: each unit of the batch online, unless it is already (udev or the host beat
 * us to it, or the kernel did it itself: memhp_default_state=online). */
static void
online_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        GArray *batch = task_data;

        for (guint i = 0; i < batch->len; i++) {
                Hotplug *h = &g_array_index (batch, Hotplug, i);
                g_autoptr(GError) error = NULL;

                if (h->kind == UNIT_VCPU) {
                        if (!phx_sysfs_vcpu_set ((gint64) h->id, TRUE, &h->changed, &error)) {
                                h->errsv = error->code;
                                h->message = g_strdup (error->message);
                        }
                } else if (phx_sysfs_memory_block_set (h->id, TRUE, &h->changed, &h->errsv) != PHX_MEMBLK_SUCCESS) {
                        h->message = g_strdup (g_strerror (h->errsv));
                }
        }
        g_task_return_boolean (task, TRUE);
}

static void start_onlining (PhxCpumemFamily *self);

static void
on_onlined (GObject *source, GAsyncResult *res, gpointer user_data)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (source);
        GArray *batch = g_task_get_task_data (G_TASK (res));

        for (guint i = 0; i < batch->len; i++) {
                const Hotplug *h = &g_array_index (batch, Hotplug, i);

                if (h->message != NULL)
                        g_warning (_("could not bring hot-added %s %llu online: %s"), unit_word (h->kind),
                                   (unsigned long long) h->id, h->message);
                else if (h->changed)
                        g_message (_("brought hot-added %s %llu online"), unit_word (h->kind),
                                   (unsigned long long) h->id);
        }
        self->onlining = FALSE;
        start_onlining (self);
}

static void
start_onlining (PhxCpumemFamily *self)
{
        g_autoptr(GTask) task = NULL;
        GArray *batch;

        if (self->onlining || self->pending->len == 0)
                return;
        batch = g_steal_pointer (&self->pending);
        self->pending = g_array_new (FALSE, FALSE, sizeof (Hotplug));
        g_array_set_clear_func (self->pending, hotplug_clear);
        self->onlining = TRUE;
        task = g_task_new (self, NULL, on_onlined, NULL);
        g_task_set_source_tag (task, start_onlining);
        g_task_set_task_data (task, batch, (GDestroyNotify) g_array_unref);
        /* the pool of slow work: a vCPU comes up in seconds under emulation */
        phx_workers_run (PHX_POOL_LONG, task, online_thread);
}

/* "/devices/system/cpu/cpu4" -> 4: only the kernel's own objects of that exact shape. */
static gboolean
parse_devpath (const char *devpath, const char *prefix, guint64 *id)
{
        const char *digits;

        if (!g_str_has_prefix (devpath, prefix))
                return FALSE;
        digits = devpath + strlen (prefix);
        return g_ascii_isdigit (digits[0]) && g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT64, id, NULL);
}

/* Only real additions: a synthetic "add" (udevadm trigger, coldplug at boot) is someone
 * replaying old events, and must not undo an administrator's deliberate offline. */
static void
on_uevent (PhxUevent *uevents, const char *action, const char *devpath, const char *subsystem, gboolean synthetic,
           gpointer user_data)
{
        PhxCpumemFamily *self = user_data;
        Hotplug h = { 0 };

        if (synthetic || !g_str_equal (action, "add"))
                return;
        if (g_str_equal (subsystem, "cpu") && parse_devpath (devpath, "/devices/system/cpu/cpu", &h.id))
                h.kind = UNIT_VCPU;
        else if (g_str_equal (subsystem, "memory") && parse_devpath (devpath, "/devices/system/memory/memory", &h.id))
                h.kind = UNIT_MEMORY_BLOCK;
        else
                return;
        if (self->pending->len >= PHX_HOTPLUG_PENDING_MAX) {
                g_warning (_("too many hot-added units waiting; %s %llu stays as the kernel left it"),
                           unit_word (h.kind), (unsigned long long) h.id);
                return;
        }
        g_array_append_val (self->pending, h);
        start_onlining (self);
}

/* ---- the family ---- */

PhxCpumemFamily *
phx_cpumem_family_new (gboolean online_hotplug)
{
        return g_object_new (PHX_TYPE_CPUMEM_FAMILY, "online-hotplug", online_hotplug, NULL);
}

static void
phx_cpumem_family_constructed (GObject *object)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (object);
        g_autoptr(GError) error = NULL;

        G_OBJECT_CLASS (phx_cpumem_family_parent_class)->constructed (object);
        if (!self->online_hotplug)
                return;
        self->uevents = phx_uevent_new (&error);
        if (self->uevents == NULL) {
                g_warning (_("%s; hot-added vCPUs and memory will not be brought online"), error->message);
                return;
        }
        g_signal_connect_object (self->uevents, "event", G_CALLBACK (on_uevent), self, 0);
}

static void
phx_cpumem_family_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (object);

        switch (prop_id) {
        case PROP_ONLINE_HOTPLUG:
                self->online_hotplug = g_value_get_boolean (value);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_cpumem_family_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (object);

        switch (prop_id) {
        case PROP_ONLINE_HOTPLUG:
                g_value_set_boolean (value, self->online_hotplug);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_cpumem_family_dispose (GObject *object)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (object);

        g_clear_object (&self->uevents);
        G_OBJECT_CLASS (phx_cpumem_family_parent_class)->dispose (object);
}

static void
phx_cpumem_family_finalize (GObject *object)
{
        PhxCpumemFamily *self = PHX_CPUMEM_FAMILY (object);

        g_array_unref (self->pending);
        G_OBJECT_CLASS (phx_cpumem_family_parent_class)->finalize (object);
}

static void
phx_cpumem_family_class_init (PhxCpumemFamilyClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        PhxFamilyClass *family_class = PHX_FAMILY_CLASS (klass);

        object_class->constructed = phx_cpumem_family_constructed;
        object_class->set_property = phx_cpumem_family_set_property;
        object_class->get_property = phx_cpumem_family_get_property;
        object_class->dispose = phx_cpumem_family_dispose;
        object_class->finalize = phx_cpumem_family_finalize;
        family_class->commands = cpumem_commands;
        family_class->faces = cpumem_faces;

        /* off by default, so that a family made without asking (tests) touches nothing */
        props[PROP_ONLINE_HOTPLUG] = g_param_spec_boolean (
                "online-hotplug", NULL, NULL, FALSE,
                G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
        g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
phx_cpumem_family_init (PhxCpumemFamily *self)
{
        self->pending = g_array_new (FALSE, FALSE, sizeof (Hotplug));
        g_array_set_clear_func (self->pending, hotplug_clear);
}
