/* phx-dbus.c — publishes PhxAgent's state on the system bus through the skeleton that
 * gdbus-codegen makes from data/org.phoenixga.GuestAgent1.xml. The skeleton's properties are
 * bound to the agent's, so the agent stays the one source of truth. The bus is optional: if
 * it is absent or goes away, one warning is logged and the port is served as before. */
#define G_LOG_DOMAIN "phx-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "phx-dbus.h"
#include "phx-dbus-generated.h"

struct _PhxDbus {
        GObject parent_instance;
        GObject *state;            /* the agent, whose properties are published; owns us */
        PhxDispatcher *dispatcher; /* Thaw() is its fs-unfreeze, in the freeze lane */
        PhxGuestAgent1 *skeleton;
        guint owner_id;
        gboolean exported;
};

G_DEFINE_TYPE (PhxDbus, phx_dbus, G_TYPE_OBJECT)

static const char *const bound_properties[] = {
        "version", "method", "path", "host-connected", "frozen", "frozen-since", "open-handles",
        "commands-served", "commands-failed", "last-command", "started-at",
};

typedef struct {
        PhxDbus *self;
        GDBusMethodInvocation *invocation;
} ThawCall;

static void
on_thawed (GObject *source, GAsyncResult *res, gpointer user_data)
{
        ThawCall *call = user_data;
        g_autoptr(JsonNode) result = NULL;
        g_autoptr(GError) error = NULL;

        result = phx_dispatcher_call_finish (PHX_DISPATCHER (source), res, &error);
        if (result == NULL) {
                g_dbus_method_invocation_return_dbus_error (call->invocation, "org.freedesktop.DBus.Error.Failed",
                                                            error->message);
        } else {
                g_message (_("filesystems thawed through D-Bus"));
                phx_guest_agent1_complete_thaw (call->self->skeleton, call->invocation);
        }
        g_object_unref (call->self);
        g_free (call);
}

static void
on_caller_uid (GObject *source, GAsyncResult *res, gpointer user_data)
{
        ThawCall *call = user_data;
        g_autoptr(GVariant) reply = NULL;
        g_autoptr(GError) error = NULL;
        guint32 uid = G_MAXUINT32;

        reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
        if (reply != NULL)
                g_variant_get (reply, "(u)", &uid);
        /* The bus policy already keeps others out; this holds even under a looser one. */
        if (uid != 0) {
                g_dbus_method_invocation_return_dbus_error (call->invocation,
                                                            "org.freedesktop.DBus.Error.AccessDenied",
                                                            "Thaw is for root only");
        } else {
                /* The same path as a host's fs-unfreeze: after any freeze in progress. */
                phx_dispatcher_call (call->self->dispatcher, "fs-unfreeze", NULL, on_thawed, call);
                return;
        }
        g_object_unref (call->self);
        g_free (call);
}

static gboolean
on_handle_thaw (PhxGuestAgent1 *skeleton, GDBusMethodInvocation *invocation, gpointer user_data)
{
        ThawCall *call = g_new0 (ThawCall, 1);

        call->self = g_object_ref (user_data);
        call->invocation = invocation;
        g_dbus_connection_call (g_dbus_method_invocation_get_connection (invocation), "org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser",
                                g_variant_new ("(s)", g_dbus_method_invocation_get_sender (invocation)),
                                G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_caller_uid, call);
        return TRUE;
}

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
        PhxDbus *self = user_data;
        g_autoptr(GError) error = NULL;

        /* GDBus would otherwise exit the process when the bus goes away. */
        g_dbus_connection_set_exit_on_close (connection, FALSE);
        if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
                                               PHX_DBUS_PATH, &error)) {
                g_warning (_("cannot export %s on the system bus: %s"), PHX_DBUS_PATH, error->message);
                return;
        }
        self->exported = TRUE;
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
        g_debug ("owning %s on the system bus", name);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
        PhxDbus *self = user_data;

        if (connection == NULL)
                g_warning (_("no system bus: agent state is not published on D-Bus (the port is served as usual)"));
        else
                g_warning (_("lost (or could not own) %s on the system bus; the port is served as usual"), name);
        if (self->exported) {
                g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
                self->exported = FALSE;
        }
        /* No retries: a reconnecting loop would wake an idle guest for nothing. */
        g_clear_handle_id (&self->owner_id, g_bus_unown_name);
}

PhxDbus *
phx_dbus_new (GObject *state, PhxDispatcher *dispatcher)
{
        PhxDbus *self = g_object_new (PHX_TYPE_DBUS, NULL);

        self->state = state;
        self->dispatcher = g_object_ref (dispatcher);
        self->skeleton = phx_guest_agent1_skeleton_new ();
        for (guint i = 0; i < G_N_ELEMENTS (bound_properties); i++)
                g_object_bind_property (state, bound_properties[i], self->skeleton, bound_properties[i],
                                        G_BINDING_SYNC_CREATE);
        g_signal_connect (self->skeleton, "handle-thaw", G_CALLBACK (on_handle_thaw), self);
        self->owner_id = g_bus_own_name (G_BUS_TYPE_SYSTEM, PHX_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                         on_bus_acquired, on_name_acquired, on_name_lost, self, NULL);
        return self;
}

static void
phx_dbus_dispose (GObject *object)
{
        PhxDbus *self = PHX_DBUS (object);

        g_clear_handle_id (&self->owner_id, g_bus_unown_name);
        if (self->skeleton != NULL && self->exported)
                g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
        g_clear_object (&self->skeleton);
        g_clear_object (&self->dispatcher);
        G_OBJECT_CLASS (phx_dbus_parent_class)->dispose (object);
}

static void
phx_dbus_class_init (PhxDbusClass *klass)
{
        G_OBJECT_CLASS (klass)->dispose = phx_dbus_dispose;
}

static void
phx_dbus_init (PhxDbus *self)
{
}
