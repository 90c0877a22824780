/* phx-dispatcher.h — PhxDispatcher: takes request lines from connections and runs them:
 * parse (large lines in a worker, keeping arrival order), gate, family steps, lanes,
 * execution inline or as a GTask, the reply to the invocation. */
#pragma once

#include <gio/gio.h>

#include "phx-budget.h"
#include "phx-connection.h"
#include "phx-freeze-state.h"
#include "phx-registry.h"

G_BEGIN_DECLS

#define PHX_TYPE_DISPATCHER (phx_dispatcher_get_type ())
G_DECLARE_FINAL_TYPE (PhxDispatcher, phx_dispatcher, PHX, DISPATCHER, GObject)

PhxDispatcher *phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezeState *freezer,
                                   PhxBudget *budget);
void phx_dispatcher_add_connection (PhxDispatcher *self, PhxConnection *connection);
void phx_dispatcher_call (PhxDispatcher *self, const char *name, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
JsonNode *phx_dispatcher_call_finish (PhxDispatcher *self, GAsyncResult *result, GError **error);
guint phx_dispatcher_get_unanswered (PhxDispatcher *self);

G_END_DECLS
