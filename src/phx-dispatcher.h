/* phx-dispatcher.h — from request line to reply: lookup, validation, freeze gate, execution. */
#pragma once

#include <glib-object.h>

#include "phx-handler.h"

G_BEGIN_DECLS

#define PHX_TYPE_DISPATCHER (phx_dispatcher_get_type ())
G_DECLARE_FINAL_TYPE (PhxDispatcher, phx_dispatcher, PHX, DISPATCHER, GObject)

PhxDispatcher *phx_dispatcher_new (PhxAgent *agent);
void phx_dispatcher_feed (PhxDispatcher *self, GBytes *line, guint generation);
void phx_dispatcher_feed_overlong (PhxDispatcher *self, guint generation);
gboolean phx_dispatcher_set_enabled (PhxDispatcher *self, const char *const *allow, const char *const *block,
                                     GError **error);
GPtrArray *phx_dispatcher_list_commands (PhxDispatcher *self);
gsize phx_dispatcher_get_inflight_bytes (PhxDispatcher *self);
guint phx_dispatcher_get_running (PhxDispatcher *self);
void phx_dispatcher_maybe_trim (PhxDispatcher *self);
guint phx_dispatcher_get_unanswered (PhxDispatcher *self, guint generation);

G_END_DECLS
