/* The agent's D-Bus state on a real private bus (GTestDBus runs a dbus-daemon of its own;
 * the machine's system bus is never used): every property, PropertiesChanged while
 * commands run and while a freeze (fake backend) and a Thaw() happen, per-request counters
 * coalesced while Frozen and HostConnected signal at once. */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "config.h"
#include "phx-agent.h"
#include "phx-dbus.h"
#include "phx-freeze-backend.h"
#include "phx-limits.h"

#define BURST 200

static GPtrArray *
fake_list (gpointer data, GError **error)
{
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        g_ptr_array_add (out, g_strdup ("/fake"));
        return out;
}

static int
fake_op (const char *mountpoint, gpointer data)
{
        (*(guint *) data)++;
        return 0;
}

typedef struct {
        GDBusProxy *proxy;
        GHashTable *changed; /* property name -> times seen in PropertiesChanged */
        guint messages;      /* PropertiesChanged signals seen */
} Watch;

static void
on_props_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
        Watch *w = user_data;
        GVariantIter iter;
        const char *name;

        w->messages++;
        g_variant_iter_init (&iter, changed);
        while (g_variant_iter_next (&iter, "{&sv}", &name, NULL)) {
                guint n = GPOINTER_TO_UINT (g_hash_table_lookup (w->changed, name));
                g_hash_table_insert (w->changed, g_strdup (name), GUINT_TO_POINTER (n + 1));
        }
}

static GVariant *
prop (Watch *w, const char *name)
{
        GVariant *v = g_dbus_proxy_get_cached_property (w->proxy, name);

        g_assert_nonnull (v);
        return v;
}

static gboolean
prop_bool (Watch *w, const char *name)
{
        g_autoptr(GVariant) v = prop (w, name);
        return g_variant_get_boolean (v);
}

static guint64
prop_u64 (Watch *w, const char *name)
{
        g_autoptr(GVariant) v = prop (w, name);
        return g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32) ? g_variant_get_uint32 (v) : g_variant_get_uint64 (v);
}

static char *
prop_str (Watch *w, const char *name)
{
        g_autoptr(GVariant) v = prop (w, name);
        return g_variant_dup_string (v, NULL);
}

/* Iterates the main loop until cond holds (or fails the test after 10 s). */
#define WAIT_FOR(cond)                                                                 \
        G_STMT_START {                                                                 \
                gint64 _end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;           \
                while (!(cond)) {                                                      \
                        if (g_get_monotonic_time () > _end)                            \
                                g_error ("timed out waiting for: %s", #cond);          \
                        g_main_context_iteration (NULL, FALSE);                        \
                        g_usleep (1000);                                               \
                }                                                                      \
        } G_STMT_END

static void
send_line (GSocketConnection *conn, const char *line)
{
        GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));

        g_assert_true (g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL));
}

static void
on_thaw_reply (GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GError) error = NULL;
        GVariant **ret = user_data;

        *ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), res, &error);
        g_assert_no_error (error);
}

static guint
seen (Watch *w, const char *name)
{
        return GPOINTER_TO_UINT (g_hash_table_lookup (w->changed, name));
}

static void
test_dbus_state (void)
{
        g_autofree char *dir = g_dir_make_tmp ("phx-dbus-XXXXXX", NULL);
        g_autofree char *sock = g_build_filename (dir, "agent.sock", NULL);
        g_autofree char *run = g_build_filename (dir, "run", NULL);
        g_autoptr(GDBusConnection) system = NULL;
        g_autoptr(PhxAgent) agent = NULL;
        g_autoptr(GSocketClient) client = g_socket_client_new ();
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GSocketConnection) conn = NULL;
        g_autoptr(GVariant) ret = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *s = NULL;
        guint freezes = 0;
        PhxFreezeBackend fake = { fake_list, fake_op, fake_op, &freezes };
        PhxAgentOptions options = { 0 };
        Watch w = { NULL, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };

        options.method = PHX_METHOD_UNIX_LISTEN;
        options.path = sock;
        options.freeze_timeout = 0;
        options.runtime_dir = run;
        options.dbus = TRUE;
        options.freeze_backend = &fake;
        agent = phx_agent_new (&options, &error);
        g_assert_no_error (error);

        system = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
        g_assert_no_error (error);
        w.proxy = g_dbus_proxy_new_sync (system, G_DBUS_PROXY_FLAGS_NONE, NULL, PHX_DBUS_NAME, PHX_DBUS_PATH,
                                         "org.phoenixga.GuestAgent1", NULL, &error);
        g_assert_no_error (error);
        g_signal_connect (w.proxy, "g-properties-changed", G_CALLBACK (on_props_changed), &w);
        WAIT_FOR (g_dbus_proxy_get_name_owner (w.proxy) != NULL &&
                  g_dbus_proxy_get_cached_property_names (w.proxy) != NULL);

        /* every property, at rest */
        s = prop_str (&w, "Version");
        g_assert_cmpstr (s, ==, PHX_VERSION);
        g_free (s);
        s = prop_str (&w, "Method");
        g_assert_cmpstr (s, ==, "unix-listen");
        g_free (s);
        s = prop_str (&w, "Path");
        g_assert_cmpstr (s, ==, sock);
        g_free (s);
        s = prop_str (&w, "LastCommand");
        g_assert_cmpstr (s, ==, "");
        g_clear_pointer (&s, g_free);
        g_assert_false (prop_bool (&w, "HostConnected"));
        g_assert_false (prop_bool (&w, "Frozen"));
        g_assert_cmpuint (prop_u64 (&w, "FrozenSince"), ==, 0);
        g_assert_cmpuint (prop_u64 (&w, "OpenHandles"), ==, 0);
        g_assert_cmpuint (prop_u64 (&w, "CommandsServed"), ==, 0);
        g_assert_cmpuint (prop_u64 (&w, "CommandsFailed"), ==, 0);
        g_assert_cmpuint (prop_u64 (&w, "StartedAt"), >, (guint64) (g_get_real_time () - 60 * G_USEC_PER_SEC));

        /* a host attaches and sends commands: the changes arrive as PropertiesChanged */
        g_hash_table_remove_all (w.changed);
        addr = g_unix_socket_address_new (sock);
        conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, &error);
        g_assert_no_error (error);
        WAIT_FOR (prop_bool (&w, "HostConnected"));
        g_assert_cmpuint (seen (&w, "HostConnected"), >, 0);
        send_line (conn, "{\"execute\":\"ping\"}\n{\"execute\":\"no-such-command\"}\n");
        WAIT_FOR (prop_u64 (&w, "CommandsServed") == 2 && prop_u64 (&w, "CommandsFailed") == 1);
        g_assert_cmpuint (seen (&w, "CommandsServed"), >, 0);
        g_assert_cmpuint (seen (&w, "CommandsFailed"), >, 0);
        s = prop_str (&w, "LastCommand");
        g_assert_cmpstr (s, ==, "no-such-command");
        g_clear_pointer (&s, g_free);

        /* a burst: the counters converge, in a bounded number of signals */
        {
                g_autoptr(GString) burst = g_string_new (NULL);
                gint64 start, elapsed_ms;

                for (guint i = 0; i < BURST; i++)
                        g_string_append (burst, i % 10 == 9 ? "{\"execute\":\"nope\"}\n" : "{\"execute\":\"ping\"}\n");
                g_string_append (burst, "{\"execute\":\"get-commands\"}\n");
                g_hash_table_remove_all (w.changed);
                start = g_get_monotonic_time ();
                send_line (conn, burst->str);
                WAIT_FOR (prop_u64 (&w, "CommandsServed") == 2 + BURST + 1);
                elapsed_ms = (g_get_monotonic_time () - start) / 1000;
                g_assert_cmpuint (prop_u64 (&w, "CommandsFailed"), ==, 1 + BURST / 10);
                s = prop_str (&w, "LastCommand");
                g_assert_cmpstr (s, ==, "get-commands");
                g_clear_pointer (&s, g_free);
                g_test_message ("%u requests in %" G_GINT64_FORMAT " ms: CommandsServed in %u signals", BURST + 1,
                                elapsed_ms, seen (&w, "CommandsServed"));
                g_assert_cmpuint (seen (&w, "CommandsServed"), <=, elapsed_ms / PHX_DBUS_PUBLISH_MS + 2);
        }

        /* a freeze through the port (fake backend), then Thaw() over D-Bus as root */
        g_hash_table_remove_all (w.changed);
        send_line (conn, "{\"execute\":\"fs-freeze\"}\n");
        WAIT_FOR (prop_bool (&w, "Frozen"));
        g_assert_cmpuint (freezes, ==, 1);
        g_assert_cmpuint (prop_u64 (&w, "FrozenSince"), >, 0);
        g_assert_cmpuint (seen (&w, "Frozen"), ==, 1);
        g_assert_cmpuint (seen (&w, "FrozenSince"), ==, 1);
        /* async: the agent answers from this same main loop */
        g_dbus_proxy_call (w.proxy, "Thaw", NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, on_thaw_reply, &ret);
        WAIT_FOR (ret != NULL);
        g_assert_true (g_variant_is_of_type (ret, G_VARIANT_TYPE_UNIT));
        WAIT_FOR (!prop_bool (&w, "Frozen"));
        g_assert_cmpuint (freezes, ==, 2); /* one FIFREEZE, one FITHAW */
        g_assert_cmpuint (prop_u64 (&w, "FrozenSince"), ==, 0);

        /* the host leaves */
        g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
        WAIT_FOR (!prop_bool (&w, "HostConnected"));

        g_object_unref (w.proxy);
        g_hash_table_unref (w.changed);
        g_clear_object (&agent);
        g_rmdir (run);
        g_rmdir (dir);
}

/* With an interval no test outlives, what is coalesced stays put after its first
 * publication, so "signals at once" needs no clock: Frozen, FrozenSince and HostConnected
 * must arrive while CommandsServed still shows the first request. */
static void
test_dbus_at_once (void)
{
        g_autofree char *dir = g_dir_make_tmp ("phx-dbus-XXXXXX", NULL);
        g_autofree char *sock = g_build_filename (dir, "agent.sock", NULL);
        g_autofree char *run = g_build_filename (dir, "run", NULL);
        g_autoptr(GDBusConnection) system = NULL;
        g_autoptr(PhxAgent) agent = NULL;
        g_autoptr(GSocketClient) client = g_socket_client_new ();
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GSocketConnection) conn = NULL;
        g_autoptr(GVariant) ret = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *s = NULL;
        guint freezes = 0;
        PhxFreezeBackend fake = { fake_list, fake_op, fake_op, &freezes };
        PhxAgentOptions options = { 0 };
        Watch w = { NULL, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };

        options.method = PHX_METHOD_UNIX_LISTEN;
        options.path = sock;
        options.runtime_dir = run;
        options.freeze_backend = &fake;
        options.dbus = TRUE;
        options.dbus_publish_ms = 3600 * 1000;
        agent = phx_agent_new (&options, &error);
        g_assert_no_error (error);

        system = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
        g_assert_no_error (error);
        w.proxy = g_dbus_proxy_new_sync (system, G_DBUS_PROXY_FLAGS_NONE, NULL, PHX_DBUS_NAME, PHX_DBUS_PATH,
                                         "org.phoenixga.GuestAgent1", NULL, &error);
        g_assert_no_error (error);
        g_signal_connect (w.proxy, "g-properties-changed", G_CALLBACK (on_props_changed), &w);
        WAIT_FOR (g_dbus_proxy_get_name_owner (w.proxy) != NULL &&
                  g_dbus_proxy_get_cached_property_names (w.proxy) != NULL);

        addr = g_unix_socket_address_new (sock);
        conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, &error);
        g_assert_no_error (error);
        WAIT_FOR (prop_bool (&w, "HostConnected"));
        /* the first change after a quiet interval goes out at once */
        send_line (conn, "{\"execute\":\"ping\"}\n");
        WAIT_FOR (prop_u64 (&w, "CommandsServed") == 1);

        /* now the counters wait an hour; a freeze must not */
        send_line (conn, "{\"execute\":\"no-such-command\"}\n{\"execute\":\"fs-freeze\"}\n");
        WAIT_FOR (prop_bool (&w, "Frozen"));
        g_assert_cmpuint (freezes, ==, 1);
        g_assert_cmpuint (prop_u64 (&w, "FrozenSince"), >, 0);
        g_assert_cmpuint (prop_u64 (&w, "CommandsServed"), ==, 1);
        g_assert_cmpuint (prop_u64 (&w, "CommandsFailed"), ==, 0);
        s = prop_str (&w, "LastCommand");
        g_assert_cmpstr (s, ==, "ping");
        g_clear_pointer (&s, g_free);

        /* ... nor a thaw, nor the host leaving */
        g_dbus_proxy_call (w.proxy, "Thaw", NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, on_thaw_reply, &ret);
        WAIT_FOR (ret != NULL);
        WAIT_FOR (!prop_bool (&w, "Frozen"));
        g_assert_cmpuint (prop_u64 (&w, "FrozenSince"), ==, 0);
        g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
        WAIT_FOR (!prop_bool (&w, "HostConnected"));
        g_assert_cmpuint (prop_u64 (&w, "CommandsServed"), ==, 1);

        g_object_unref (w.proxy);
        g_hash_table_unref (w.changed);
        g_clear_object (&agent);
        g_rmdir (run);
        g_rmdir (dir);
}

int
main (int argc, char **argv)
{
        /* One bus for every test: GDBus keeps one system-bus connection per process. */
        g_autoptr(GTestDBus) bus = NULL;
        int ret;

        g_test_init (&argc, &argv, NULL);
        bus = g_test_dbus_new (G_TEST_DBUS_NONE);
        g_test_dbus_up (bus);
        /* the agent publishes on the "system" bus: make that ours */
        g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), TRUE);
        g_test_add_func ("/dbus/state", test_dbus_state);
        g_test_add_func ("/dbus/at-once", test_dbus_at_once);
        ret = g_test_run ();
        g_test_dbus_down (bus);
        return ret;
}
