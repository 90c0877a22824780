/* phx-dbus.c — publishes PhxAgent's state on the system bus through the skeleton that
 * gdbus-codegen makes from data/org.phoenixga.GuestAgent1.xml; the agent stays the one source
 * of truth. Properties that change with every request are published at most once per
 * PHX_DBUS_PUBLISH_MS, so a busy port does not cost a bus message per request, timed by a
 * timerfd rather than a GLib timeout (see arm_publication). The bus is
 * optional: if it is absent or goes away, one warning is logged and the port is served as before. */
#define G_LOG_DOMAIN "phx-dbus"

#include "config.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "phx-dbus.h"
#include "phx-dbus-generated.h"
#include "phx-limits.h"

struct _PhxDbus {
        GObject parent_instance;
        GObject *state;            /* the agent, whose properties are published; owns us */
        PhxDispatcher *dispatcher; /* Thaw() is its fs-unfreeze, in the freeze lane */
        PhxGuestAgent1 *skeleton;
        guint owner_id;
        gboolean exported;
        guint publish_ms;
        int timer_fd;         /* CLOCK_MONOTONIC timerfd of the next publication; -1: none to be had */
        guint publish_id;     /* source of a waiting publication; exists only while a change waits */
        gint64 published_at;  /* monotonic µs of the last coalesced publication; 0: none yet */
};

G_DEFINE_TYPE (PhxDbus, phx_dbus, G_TYPE_OBJECT)

/* Rare, and what a monitor acts on (a freeze, a host arriving): bound, so they signal in
 * the main-loop iteration in which they change. */
static const char *const bound_properties[] = {
        "version", "method", "path", "host-connected", "frozen", "frozen-since", "started-at", "channels",
};

/* Change with (nearly) every request: copied to the skeleton by publish_coalesced(). */
static const char *const coalesced_properties[] = {
        "commands-served", "commands-failed", "last-command", "open-handles",
};

static void
publish_coalesced (PhxDbus *self)
{
        /* The skeleton sends what changed here as one PropertiesChanged, from an idle. */
        for (guint i = 0; i < G_N_ELEMENTS (coalesced_properties); i++) {
                GValue value = G_VALUE_INIT;

                g_object_get_property (self->state, coalesced_properties[i], &value);
                g_object_set_property (G_OBJECT (self->skeleton), coalesced_properties[i], &value);
                g_value_unset (&value);
        }
}

static void
publish_due (PhxDbus *self)
{
        self->publish_id = 0;
        self->published_at = g_get_monotonic_time ();
        publish_coalesced (self);
}

static gboolean
on_timer_fd (gint fd, GIOCondition condition, gpointer user_data)
{
        guint64 expirations;

        /* read, or the fd stays readable; EAGAIN: not due after all (re-armed meanwhile) */
        if (read (fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
                return G_SOURCE_CONTINUE;
        publish_due (user_data);
        return G_SOURCE_REMOVE;
}

static gboolean
on_timeout (gpointer user_data)
{
        publish_due (user_data);
        return G_SOURCE_REMOVE;
}

/* Why a timerfd and not g_timeout_add: under steady traffic a change waits nearly all the
 * time, and a GLib timeout makes every poll() of the main loop a timed one — the kernel then
 * starts and cancels an hrtimer each time the agent sleeps between two requests, and GLib
 * reads the clock in every prepare and check: about 1.5 us per request (doc/performance.md).
 * A timerfd is armed once per publication and polled like the port. */
static void
arm_publication (PhxDbus *self, gint64 wait_us)
{
        /* a zero it_value disarms a timerfd: one nanosecond is "at once" */
        gint64 wait_ns = MAX (wait_us * 1000, 1);
        struct itimerspec when = {
                .it_value = { .tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000 },
        };

        if (self->timer_fd >= 0 && timerfd_settime (self->timer_fd, 0, &when, NULL) == 0) {
                self->publish_id = g_unix_fd_add (self->timer_fd, G_IO_IN, on_timer_fd, self);
                return;
        }
        self->publish_id = g_timeout_add (wait_us > 0 ? (guint) ((wait_us + 999) / 1000) : 0, on_timeout, self);
}

/* The first change after a quiet interval goes out at once (in the next main-loop iteration,
 * so the other properties the same request changes go with it); later ones wait for the end
 * of the interval. An idle agent has no timer at all. The agent calls this once per request
 * (cheaper than a notify per counter), and open-handles' notify does too. */
void
phx_dbus_counters_changed (PhxDbus *self)
{
        gint64 wait_us = 0;

        /* Unexported: nobody can see the skeleton, and export publishes everything. */
        if (self->publish_id != 0 || !self->exported)
                return;
        if (self->published_at != 0)
                wait_us = self->published_at + (gint64) self->publish_ms * 1000 - g_get_monotonic_time ();
        arm_publication (self, wait_us);
}

static void
on_coalesced_notify (GObject *agent, GParamSpec *pspec, gpointer user_data)
{
        phx_dbus_counters_changed (user_data);
}

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
        publish_coalesced (self);
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
        g_clear_handle_id (&self->publish_id, g_source_remove);
        /* No retries: a reconnecting loop would wake an idle guest for nothing. */
        g_clear_handle_id (&self->owner_id, g_bus_unown_name);
}

/* publish_ms: the shortest time between two publications of the per-request properties;
 * tests pass a long one to tell "at once" from "coalesced" without timing anything. */
PhxDbus *
phx_dbus_new (GObject *state, PhxDispatcher *dispatcher, guint publish_ms)
{
        PhxDbus *self = g_object_new (PHX_TYPE_DBUS, NULL);

        self->state = state;
        self->dispatcher = g_object_ref (dispatcher);
        self->publish_ms = publish_ms;
        self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (self->timer_fd < 0)
                g_debug ("no timerfd (%s): publications timed by the main loop", g_strerror (errno));
        self->skeleton = phx_guest_agent1_skeleton_new ();
        for (guint i = 0; i < G_N_ELEMENTS (bound_properties); i++)
                g_object_bind_property (state, bound_properties[i], self->skeleton, bound_properties[i],
                                        G_BINDING_SYNC_CREATE);
        /* the counters and last-command are not notified: the agent says when they change */
        g_signal_connect (state, "notify::open-handles", G_CALLBACK (on_coalesced_notify), self);
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
        g_clear_handle_id (&self->publish_id, g_source_remove);
        if (self->state != NULL)
                g_signal_handlers_disconnect_by_data (self->state, self);
        if (self->skeleton != NULL && self->exported)
                g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
        g_clear_object (&self->skeleton);
        g_clear_object (&self->dispatcher);
        if (self->timer_fd >= 0) {
                close (self->timer_fd);
                self->timer_fd = -1;
        }
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
        self->timer_fd = -1;
}
