/* SPDX-License-Identifier: MIT
 *
 * memory-floor: the private memory that the components the design mandates cost before
 * the agent does anything of its own. It connects a netlink route socket through
 * libnl-route-3, writes one JSON node with json-glib, owns org.phoenixga.GuestAgent1 on the
 * system bus and exports the gdbus-codegen skeleton there, then idles; scripts/bench.py
 * reads its /proc/PID/smaps_rollup next to the agent's. It prints "ready" once the name is
 * owned and the object exported (or "no-bus" when there is no bus to own it on).
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <netlink/route/link.h>

#include "phx-dbus-generated.h"

static void
on_bus (GDBusConnection *connection, const char *name, gpointer user_data)
{
        g_autoptr(GError) error = NULL;

        if (!g_dbus_interface_skeleton_export (user_data, connection, "/org/phoenixga/GuestAgent1", &error))
                g_error ("export: %s", error->message);
}

static void
on_name (GDBusConnection *connection, const char *name, gpointer user_data)
{
        printf ("%s\n", connection != NULL ? "ready" : "no-bus");
        fflush (stdout);
}

int
main (int argc, char **argv)
{
        g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
        g_autoptr(PhxGuestAgent1) skeleton = phx_guest_agent1_skeleton_new ();
        g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), json_object_new ());
        g_autofree char *text = json_to_string (node, FALSE);
        struct nl_sock *sock = nl_socket_alloc ();
        struct rtnl_link *link = rtnl_link_alloc ();

        /* the same allocator settings as the agent's main() */
        mallopt (M_MMAP_THRESHOLD, 128 * 1024);
        mallopt (M_ARENA_MAX, 1);
        if (nl_connect (sock, NETLINK_ROUTE) < 0)
                g_error ("netlink connect failed");
        rtnl_link_put (link);
        g_bus_own_name (G_BUS_TYPE_SYSTEM, "org.phoenixga.GuestAgent1", G_BUS_NAME_OWNER_FLAGS_NONE,
                        on_bus, on_name, on_name, skeleton, NULL);
        g_main_loop_run (loop);
        nl_socket_free (sock);
        return 0;
}
