/* phx-agent.h — PhxAgent: builds the running agent from its parts (channel, dispatcher,
 * registry, families, budget, D-Bus) and keeps its observable state as GObject properties. */
#pragma once

#include <glib-object.h>

#include "phx-channel.h"

G_BEGIN_DECLS

#define PHX_TYPE_AGENT (phx_agent_get_type ())
G_DECLARE_FINAL_TYPE (PhxAgent, phx_agent, PHX, AGENT, GObject)

typedef struct {
        PhxMethod method;
        const char *path;
        guint socket_mode;           /* unix-listen: permission bits; 0 = PHX_SOCKET_MODE_DEFAULT */
        guint freeze_timeout;        /* seconds; 0 = never thaw by ourselves */
        gsize exec_capture_max;      /* bytes kept per output stream of a command; 0 = PHX_EXEC_CAPTURE_MAX */
        const char *fsfreeze_hook;   /* NULL for none */
        const char *runtime_dir;
        gboolean dbus;               /* publish state on the system bus */
        guint dbus_publish_ms;       /* 0: PHX_DBUS_PUBLISH_MS (tests pass a long one) */
        const char *const *allow_commands; /* NULL: all; else only these (and ping, get-commands) */
        const char *const *block_commands; /* NULL: none */
        guint dialects;              /* served, 1 << PhxDialect; 0: both */
        const struct _PhxFreezeBackend *freeze_backend; /* NULL: the kernel's (tests pass a fake) */
        gsize request_max;           /* 0: PHX_REQUEST_MAX (tests and fuzzing use a small one) */
        guint clients_max;           /* listening transports; 0: PHX_CLIENTS_DEFAULT */
        guint client_idle_timeout;   /* seconds, 0 = never */
        guint client_stall_timeout;  /* seconds, 0 = never */
        gboolean vsock_any_peer;     /* vsock-listen: serve peers other than the host (CID 2) */
        const char *const *channels; /* more channels, "METHOD:PATH" each; NULL: none */
        gboolean online_hotplug;     /* bring hot-added vCPUs and memory online (cmd-cpumem.c) */
} PhxAgentOptions;

PhxAgent *phx_agent_new (const PhxAgentOptions *options, GError **error);
void phx_agent_shutdown (PhxAgent *self);

G_END_DECLS
