/* phx-agent.h — PhxAgent: the running agent's state and the glue between channel and
 * dispatcher. */
#pragma once

#include <glib-object.h>

#include "phx-channel.h"
#include "phx-handles.h"

G_BEGIN_DECLS

#define PHX_TYPE_AGENT (phx_agent_get_type ())
G_DECLARE_FINAL_TYPE (PhxAgent, phx_agent, PHX, AGENT, GObject)

typedef struct _PhxDispatcher PhxDispatcher;
typedef struct _PhxFreezer PhxFreezer;

typedef struct {
        PhxMethod method;
        const char *path;
        guint socket_mode;           /* unix-listen: permission bits; 0 = PHX_SOCKET_MODE_DEFAULT */
        guint freeze_timeout;        /* seconds; 0 = never thaw by ourselves */
        const char *fsfreeze_hook;   /* NULL for none */
        const char *runtime_dir;
        gboolean dbus;               /* publish state on the system bus */
        const char *const *allow_commands; /* NULL: all; else only these (and ping, get-commands) */
        const char *const *block_commands; /* NULL: none */
        const struct _PhxFreezeBackend *freeze_backend; /* NULL: the kernel's (tests pass a fake) */
} PhxAgentOptions;

PhxAgent *phx_agent_new (const PhxAgentOptions *options, GError **error);
PhxFreezer *phx_agent_get_freezer (PhxAgent *self);
void phx_agent_prepare_exit (PhxAgent *self);
PhxHandles *phx_agent_get_handles (PhxAgent *self);
PhxDispatcher *phx_agent_get_dispatcher (PhxAgent *self);
gboolean phx_agent_get_frozen (PhxAgent *self);
void phx_agent_send (PhxAgent *self, guint generation, GBytes *reply);
void phx_agent_command_finished (PhxAgent *self, const char *name, gboolean ok);
void phx_agent_notify_handles (PhxAgent *self);
void phx_agent_inflight_changed (PhxAgent *self);
void phx_agent_request_shutdown (PhxAgent *self);

G_END_DECLS
