/* The real PhxAgent on a unix socket, with a fake freeze backend whose FIFREEZE blocks until
 * the test lets it go: every way to thaw (a host's fs-unfreeze, D-Bus Thaw(), shutdown)
 * while a freeze is in progress waits for it and then thaws, a host's retried fs-freeze is
 * refused, and the gate closes as soon as a freeze is taken; qemu-ga's freeze faces share that
 * one state with Phoenix and D-Bus, both ways. The D-Bus side runs on a private
 * dbus-daemon (GTestDBus), never the machine's. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "phx-agent.h"
#include "phx-dbus.h"
#include "phx-freeze-backend.h"

typedef struct {
        GMutex lock;
        GCond cond;
        gboolean hold;     /* FIFREEZE blocks while set */
        gboolean entered;  /* a FIFREEZE is blocked in the fake */
        GString *events;   /* "F/a T/a ..." in the order the kernel would have seen them */
        GHashTable *frozen;
} Fake;

static GPtrArray *
fake_list (gpointer data, GError **error)
{
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        g_ptr_array_add (out, g_strdup ("/a"));
        g_ptr_array_add (out, g_strdup ("/b"));
        return out;
}

static int
fake_freeze (const char *mp, gpointer data)
{
        Fake *f = data;
        int ret = 0;

        g_mutex_lock (&f->lock);
        f->entered = TRUE;
        while (f->hold)
                g_cond_wait (&f->cond, &f->lock);
        g_string_append_printf (f->events, "F%s ", mp);
        if (g_hash_table_contains (f->frozen, mp))
                ret = EBUSY; /* what the kernel says to a second FIFREEZE */
        else
                g_hash_table_add (f->frozen, g_strdup (mp));
        g_mutex_unlock (&f->lock);
        return ret;
}

static int
fake_thaw (const char *mp, gpointer data)
{
        Fake *f = data;
        int ret = 0;

        g_mutex_lock (&f->lock);
        g_string_append_printf (f->events, "T%s ", mp);
        if (!g_hash_table_remove (f->frozen, mp))
                ret = EINVAL;
        g_mutex_unlock (&f->lock);
        return ret;
}

static void
fake_release (Fake *f)
{
        g_mutex_lock (&f->lock);
        f->hold = FALSE;
        g_cond_broadcast (&f->cond);
        g_mutex_unlock (&f->lock);
}

static gboolean
fake_entered (Fake *f)
{
        gboolean entered;

        g_mutex_lock (&f->lock);
        entered = f->entered;
        g_mutex_unlock (&f->lock);
        return entered;
}

static guint
fake_frozen_count (Fake *f)
{
        guint n;

        g_mutex_lock (&f->lock);
        n = g_hash_table_size (f->frozen);
        g_mutex_unlock (&f->lock);
        return n;
}

/* Iterates the main loop until cond holds (or fails the test after 10 s). */
#define WAIT_FOR(cond)                                                                 \
        G_STMT_START {                                                                 \
                gint64 _end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;           \
                while (!(cond)) {                                                      \
                        if (g_get_monotonic_time () > _end)                            \
                                g_error ("timed out waiting for: %s", #cond);          \
                        g_main_context_iteration (NULL, FALSE);                        \
                        g_usleep (500);                                                \
                }                                                                      \
        } G_STMT_END

typedef struct {
        Fake fake;
        PhxFreezeBackend backend;
        char *dir, *sock, *run;
        PhxAgent *agent;
        GSocket *host;
        GString *in;
        gboolean shut_down, thawed_at_exit;
} Fixture;

static void
on_shutdown (PhxAgent *agent, gboolean thawed, gpointer user_data)
{
        Fixture *fx = user_data;

        fx->shut_down = TRUE;
        fx->thawed_at_exit = thawed;
}

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GError) error = NULL;
        PhxAgentOptions options = { 0 };

        g_mutex_init (&fx->fake.lock);
        g_cond_init (&fx->fake.cond);
        fx->fake.hold = TRUE;
        fx->fake.events = g_string_new (NULL);
        fx->fake.frozen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        fx->backend = (PhxFreezeBackend) { fake_list, fake_freeze, fake_thaw, &fx->fake };
        fx->dir = g_dir_make_tmp ("phx-agent-XXXXXX", NULL);
        fx->sock = g_build_filename (fx->dir, "agent.sock", NULL);
        fx->run = g_build_filename (fx->dir, "run", NULL);
        options.method = PHX_METHOD_UNIX_LISTEN;
        options.path = fx->sock;
        options.runtime_dir = fx->run;
        options.dbus = data != NULL;
        options.freeze_backend = &fx->backend;
        fx->agent = phx_agent_new (&options, &error);
        g_assert_no_error (error);
        g_signal_connect (fx->agent, "shutdown", G_CALLBACK (on_shutdown), fx);
        fx->host = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
        g_assert_no_error (error);
        addr = g_unix_socket_address_new (fx->sock);
        g_assert_true (g_socket_connect (fx->host, addr, NULL, &error));
        g_assert_no_error (error);
        g_socket_set_blocking (fx->host, FALSE);
        fx->in = g_string_new (NULL);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
        fake_release (&fx->fake);
        g_clear_object (&fx->host);
        g_clear_object (&fx->agent);
        g_string_free (fx->in, TRUE);
        g_string_free (fx->fake.events, TRUE);
        g_hash_table_unref (fx->fake.frozen);
        g_unlink (g_build_filename (fx->run, "frozen", NULL));
        g_rmdir (fx->run);
        g_rmdir (fx->dir);
        g_free (fx->sock);
        g_free (fx->run);
        g_free (fx->dir);
}

static void
host_send (Fixture *fx, const char *text)
{
        g_assert_cmpint (g_socket_send (fx->host, text, strlen (text), NULL, NULL), ==, (gssize) strlen (text));
}

static gboolean
have_line (Fixture *fx)
{
        char buf[4096];
        gssize n = g_socket_receive (fx->host, buf, sizeof buf, NULL, NULL);

        if (n > 0)
                g_string_append_len (fx->in, buf, n);
        return strchr (fx->in->str, '\n') != NULL;
}

/* The next reply, as a JSON object (owned by the returned node). */
static JsonNode *
host_reply (Fixture *fx)
{
        g_autoptr(GError) error = NULL;
        char *nl;
        JsonNode *node;

        WAIT_FOR (have_line (fx));
        nl = strchr (fx->in->str, '\n');
        *nl = '\0';
        node = json_from_string (fx->in->str, &error);
        g_assert_no_error (error);
        g_string_erase (fx->in, 0, nl - fx->in->str + 1);
        return node;
}

static void
assert_reply (Fixture *fx, const char *tag, gboolean ok)
{
        g_autoptr(JsonNode) node = host_reply (fx);
        JsonObject *obj = json_node_get_object (node);

        g_assert_cmpstr (json_object_get_string_member (obj, "tag"), ==, tag);
        if (ok != json_object_has_member (obj, "return"))
                g_error ("reply %s: expected %s", tag, ok ? "success" : "an error");
}

static gboolean
agent_frozen (Fixture *fx)
{
        gboolean frozen;

        g_object_get (fx->agent, "frozen", &frozen, NULL);
        return frozen;
}

/* A host retries fs-freeze before the first is answered, then thaws: the retry is refused
 * (it used to empty the list of frozen mounts, so the thaw thawed nothing). */
static void
test_second_freeze_refused (Fixture *fx, gconstpointer data)
{
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f1\"}\n");
        WAIT_FOR (fake_entered (&fx->fake));
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f2\"}\n{\"execute\":\"fs-unfreeze\",\"tag\":\"u\"}\n");
        /* f2 is answered at once: the gate is closed while f1 runs */
        assert_reply (fx, "f2", FALSE);
        fake_release (&fx->fake);
        assert_reply (fx, "f1", TRUE);
        assert_reply (fx, "u", TRUE);
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
        g_assert_false (agent_frozen (fx));
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

/* What comes behind an fs-freeze must not reach the disks being frozen; ping still works. */
static void
test_gate_closes_at_admission (Fixture *fx, gconstpointer data)
{
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f\"}\n"
                       "{\"execute\":\"file-stat\",\"arguments\":{\"path\":\"/\"},\"tag\":\"s\"}\n"
                       "{\"execute\":\"ping\",\"tag\":\"p\"}\n");
        assert_reply (fx, "s", FALSE);
        assert_reply (fx, "p", TRUE);
        fake_release (&fx->fake);
        assert_reply (fx, "f", TRUE);
        g_assert_true (agent_frozen (fx));
        host_send (fx, "{\"execute\":\"fs-unfreeze\",\"tag\":\"u\"}\n");
        assert_reply (fx, "u", TRUE);
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
}

/* agent-shutdown (or SIGTERM, the same path) during a freeze: the agent waits for the
 * freeze, thaws, then says it may exit. It used to exit at once, leaving the guest frozen. */
static void
test_shutdown_waits_and_thaws (Fixture *fx, gconstpointer data)
{
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f\"}\n{\"execute\":\"agent-shutdown\",\"tag\":\"x\"}\n");
        assert_reply (fx, "x", TRUE);
        WAIT_FOR (fake_entered (&fx->fake));
        g_assert_false (fx->shut_down);
        fake_release (&fx->fake);
        WAIT_FOR (fx->shut_down);
        g_assert_true (fx->thawed_at_exit);
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

static void
on_thaw_reply (GObject *source, GAsyncResult *res, gpointer user_data)
{
        GVariant **ret = user_data;
        g_autoptr(GError) error = NULL;

        *ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), res, &error);
        g_assert_no_error (error);
}

/* D-Bus Thaw() during a slow freeze: it used to thaw at once, remove the marker and return,
 * and the freeze then completed: a frozen guest that nothing would thaw. Now it takes the
 * freeze lane: it returns only after the freeze has finished and been undone. */
static void
test_dbus_thaw_waits_for_freeze (Fixture *fx, gconstpointer data)
{
        g_autoptr(GDBusConnection) system = NULL;
        g_autoptr(GDBusProxy) proxy = NULL;
        g_autoptr(GVariant) ret = NULL;
        g_autoptr(GError) error = NULL;
        gint64 hold_until;

        system = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
        g_assert_no_error (error);
        proxy = g_dbus_proxy_new_sync (system, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES, NULL, PHX_DBUS_NAME,
                                       PHX_DBUS_PATH, "org.phoenixga.GuestAgent1", NULL, &error);
        g_assert_no_error (error);
        WAIT_FOR (g_dbus_proxy_get_name_owner (proxy) != NULL);

        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f\"}\n");
        WAIT_FOR (fake_entered (&fx->fake));
        g_dbus_proxy_call (proxy, "Thaw", NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, on_thaw_reply, &ret);
        /* Thaw() reaches the agent within a few ms; the freeze is held well past that and
         * Thaw() must not return meanwhile, nor may anything be thawed before it is done. */
        hold_until = g_get_monotonic_time () + 500 * 1000;
        while (g_get_monotonic_time () < hold_until) {
                g_main_context_iteration (NULL, FALSE);
                g_usleep (1000);
        }
        g_assert_null (ret);
        g_assert_cmpstr (fx->fake.events->str, ==, "");
        fake_release (&fx->fake);
        assert_reply (fx, "f", TRUE);
        WAIT_FOR (ret != NULL);
        WAIT_FOR (!agent_frozen (fx));
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}


/* The next reply, which must be qemu-ga's to the request with this id: its `return`
 * (owned by the returned node's tree) or, when want_error, its error object. */
static JsonNode *
qga_reply (Fixture *fx, const char *id, gboolean want_error)
{
        g_autoptr(JsonNode) node = host_reply (fx);
        JsonObject *obj = json_node_get_object (node);
        JsonNode *member;

        g_assert_cmpstr (json_object_get_string_member (obj, "id"), ==, id);
        g_assert_false (json_object_has_member (obj, "tag"));
        member = json_object_get_member (obj, want_error ? "error" : "return");
        if (member == NULL)
                g_error ("qemu-ga reply %s: expected %s", id, want_error ? "an error" : "success");
        return json_node_copy (member);
}

static void
assert_qga_int (Fixture *fx, const char *id, gint64 value)
{
        g_autoptr(JsonNode) ret = qga_reply (fx, id, FALSE);

        g_assert_cmpint (json_node_get_int (ret), ==, value);
}

static void
assert_qga_string (Fixture *fx, const char *id, const char *value)
{
        g_autoptr(JsonNode) ret = qga_reply (fx, id, FALSE);

        g_assert_cmpstr (json_node_get_string (ret), ==, value);
}

static void
assert_qga_error (Fixture *fx, const char *id, const char *klass, const char *desc)
{
        g_autoptr(JsonNode) err = qga_reply (fx, id, TRUE);
        JsonObject *obj = json_node_get_object (err);

        g_assert_cmpstr (json_object_get_string_member (obj, "class"), ==, klass);
        g_assert_cmpstr (json_object_get_string_member (obj, "desc"), ==, desc);
}

static gboolean
phoenix_frozen (Fixture *fx)
{
        g_autoptr(JsonNode) node = NULL;

        host_send (fx, "{\"execute\":\"get-freeze-status\",\"tag\":\"st\"}\n");
        node = host_reply (fx);
        g_assert_cmpstr (json_object_get_string_member (json_node_get_object (node), "tag"), ==, "st");
        return json_object_get_boolean_member (json_node_get_object (node), "return");
}

/* Frozen through qemu-ga's face: Phoenix sees it and its fs-freeze is refused; qemu-ga's
 * own second freeze and a disk command are refused in qemu-ga's words and class; a Phoenix
 * fs-unfreeze thaws what the qemu-ga face froze, and qemu-ga's status follows. */
static void
test_qga_freeze_phoenix_thaw (Fixture *fx, gconstpointer data)
{
        fake_release (&fx->fake);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f\"}\n");
        assert_qga_int (fx, "f", 2);
        g_assert_true (agent_frozen (fx));
        g_assert_true (phoenix_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s\"}\n");
        assert_qga_string (fx, "s", "frozen");
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f2\"}\n");
        assert_reply (fx, "f2", FALSE);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f3\"}\n");
        assert_qga_error (fx, "f3", "CommandNotFound",
                          "Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"/a\"]},"
                       "\"id\":\"f4\"}\n");
        assert_qga_error (fx, "f4", "CommandNotFound",
                          "Command guest-fsfreeze-freeze-list has been disabled: the agent is in frozen state");
        host_send (fx, "{\"execute\":\"guest-ping\",\"id\":\"p\"}\n");
        json_node_unref (qga_reply (fx, "p", FALSE));
        host_send (fx, "{\"execute\":\"fs-unfreeze\",\"tag\":\"u\"}\n");
        assert_reply (fx, "u", TRUE);
        g_assert_false (agent_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s2\"}\n");
        assert_qga_string (fx, "s2", "thawed");
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

/* Frozen through Phoenix: qemu-ga's face says "frozen", its own freeze is refused, and its
 * thaw thaws and counts; a second thaw, with nothing frozen, answers 0 (as qemu-ga). */
static void
test_phoenix_freeze_qga_thaw (Fixture *fx, gconstpointer data)
{
        fake_release (&fx->fake);
        host_send (fx, "{\"execute\":\"fs-freeze\",\"tag\":\"f\"}\n");
        assert_reply (fx, "f", TRUE);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s\"}\n");
        assert_qga_string (fx, "s", "frozen");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f2\"}\n");
        assert_qga_error (fx, "f2", "CommandNotFound",
                          "Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":\"t\"}\n");
        assert_qga_int (fx, "t", 2);
        g_assert_false (agent_frozen (fx));
        g_assert_false (phoenix_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":\"t2\"}\n");
        assert_qga_int (fx, "t2", 0);
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

/* A qemu-ga freeze that is still running when a qemu-ga thaw arrives: the thaw waits in the
 * freeze lane and then thaws both; the freeze is answered first. */
static void
test_qga_thaw_waits_for_qga_freeze (Fixture *fx, gconstpointer data)
{
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f\"}\n");
        WAIT_FOR (fake_entered (&fx->fake));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f2\"}\n"
                       "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s\"}\n"
                       "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":\"t\"}\n");
        /* the replies come in request order (as qemu-ga's), but what they report was decided
         * as each ran: f2 refused by the gate closed since the first freeze's admission, s
         * "thawed" read while FIFREEZE was still running */
        fake_release (&fx->fake);
        assert_qga_int (fx, "f", 2);
        assert_qga_error (fx, "f2", "CommandNotFound",
                          "Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state");
        assert_qga_string (fx, "s", "thawed");
        assert_qga_int (fx, "t", 2);
        g_assert_cmpuint (fake_frozen_count (&fx->fake), ==, 0);
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

/* freeze-list: exact mountpoints, unknown ones ignored (as qemu-ga 7.2); a list that names
 * nothing freezable freezes nothing and leaves the agent thawed (as qemu-ga); bad types are
 * refused in qemu-ga's words before anything runs. */
static void
test_qga_freeze_list (Fixture *fx, gconstpointer data)
{
        fake_release (&fx->fake);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"/nope\",\"/b\","
                       "\"/b/\"]},\"id\":\"f\"}\n");
        assert_qga_int (fx, "f", 1);
        g_assert_true (phoenix_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":\"t\"}\n");
        assert_qga_int (fx, "t", 1);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"/nope\"]},"
                       "\"id\":\"n\"}\n");
        assert_qga_int (fx, "n", 0);
        g_assert_false (agent_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s\"}\n");
        assert_qga_string (fx, "s", "thawed");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"id\":\"all\"}\n");
        assert_qga_int (fx, "all", 2);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":\"t2\"}\n");
        assert_qga_int (fx, "t2", 2);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":\"/a\"},"
                       "\"id\":\"e1\"}\n");
        assert_qga_error (fx, "e1", "GenericError", "Invalid parameter type for 'mountpoints', expected: array");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"/a\",1]},"
                       "\"id\":\"e2\"}\n");
        assert_qga_error (fx, "e2", "GenericError", "Invalid parameter type for 'mountpoints[1]', expected: string");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":null},"
                       "\"id\":\"e4\"}\n");
        assert_qga_error (fx, "e4", "GenericError", "Invalid parameter type for 'mountpoints', expected: array");
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"arguments\":{\"mountpoints\":[]},\"id\":\"e3\"}\n");
        assert_qga_error (fx, "e3", "GenericError", "Parameter 'mountpoints' is unexpected");
        g_assert_false (agent_frozen (fx));
        g_assert_cmpstr (fx->fake.events->str, ==, "F/b T/b F/a F/b T/b T/a ");
}

/* Frozen through qemu-ga's face, thawed through D-Bus Thaw(): qemu-ga's status follows. */
static void
test_qga_freeze_dbus_thaw (Fixture *fx, gconstpointer data)
{
        g_autoptr(GDBusConnection) system = NULL;
        g_autoptr(GDBusProxy) proxy = NULL;
        g_autoptr(GVariant) ret = NULL;
        g_autoptr(GVariant) frozen = NULL;
        g_autoptr(GError) error = NULL;

        system = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
        g_assert_no_error (error);
        proxy = g_dbus_proxy_new_sync (system, G_DBUS_PROXY_FLAGS_NONE, NULL, PHX_DBUS_NAME,
                                       PHX_DBUS_PATH, "org.phoenixga.GuestAgent1", NULL, &error);
        g_assert_no_error (error);
        WAIT_FOR (g_dbus_proxy_get_name_owner (proxy) != NULL);
        fake_release (&fx->fake);
        host_send (fx, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":\"f\"}\n");
        assert_qga_int (fx, "f", 2);
        g_dbus_proxy_call (proxy, "Thaw", NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, on_thaw_reply, &ret);
        WAIT_FOR (ret != NULL);
        g_assert_false (agent_frozen (fx));
        host_send (fx, "{\"execute\":\"guest-fsfreeze-status\",\"id\":\"s\"}\n");
        assert_qga_string (fx, "s", "thawed");
        g_assert_cmpstr (fx->fake.events->str, ==, "F/a F/b T/b T/a ");
}

int
main (int argc, char **argv)
{
        g_autoptr(GTestDBus) bus = NULL;
        int ret;

        g_test_init (&argc, &argv, NULL);
        /* a private bus stands in for the system bus (never the machine's) */
        bus = g_test_dbus_new (G_TEST_DBUS_NONE);
        g_test_dbus_up (bus);
        g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), TRUE);
        g_test_add ("/agent/second-freeze-refused", Fixture, NULL, fixture_set_up, test_second_freeze_refused,
                    fixture_tear_down);
        g_test_add ("/agent/gate-closes-at-admission", Fixture, NULL, fixture_set_up,
                    test_gate_closes_at_admission, fixture_tear_down);
        g_test_add ("/agent/shutdown-waits-and-thaws", Fixture, NULL, fixture_set_up,
                    test_shutdown_waits_and_thaws, fixture_tear_down);
        g_test_add ("/agent/dbus-thaw-waits-for-freeze", Fixture, "dbus", fixture_set_up,
                    test_dbus_thaw_waits_for_freeze, fixture_tear_down);
        g_test_add ("/agent/qga-freeze-phoenix-thaw", Fixture, NULL, fixture_set_up, test_qga_freeze_phoenix_thaw,
                    fixture_tear_down);
        g_test_add ("/agent/phoenix-freeze-qga-thaw", Fixture, NULL, fixture_set_up, test_phoenix_freeze_qga_thaw,
                    fixture_tear_down);
        g_test_add ("/agent/qga-thaw-waits-for-qga-freeze", Fixture, NULL, fixture_set_up,
                    test_qga_thaw_waits_for_qga_freeze, fixture_tear_down);
        g_test_add ("/agent/qga-freeze-list", Fixture, NULL, fixture_set_up, test_qga_freeze_list,
                    fixture_tear_down);
        g_test_add ("/agent/qga-freeze-dbus-thaw", Fixture, "dbus", fixture_set_up, test_qga_freeze_dbus_thaw,
                    fixture_tear_down);
        ret = g_test_run ();
        g_test_dbus_down (bus);
        return ret;
}
