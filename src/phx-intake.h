/* phx-intake.h — PhxIntake: one connection's requests, prepared in arrival order (the
 * dispatcher's, one per connection). */
#pragma once

#include "phx-invocation.h"

G_BEGIN_DECLS

/* A request is prepared (or failed before it could be): now is TRUE when that happened
 * inside phx_intake_line (), while the connection is still reading the bytes behind it. */
typedef void (*PhxIntakeFunc) (PhxInvocation *inv, gboolean now, gpointer user_data);

typedef struct _PhxIntake PhxIntake;

PhxIntake *phx_intake_new (GObject *owner, PhxRegistry *registry, GHashTable *families,
                           PhxIntakeFunc func, gpointer user_data);
void phx_intake_free (PhxIntake *self);
gboolean phx_intake_is_empty (PhxIntake *self);
void phx_intake_line (PhxIntake *self, PhxInvocation *inv, GBytes *line);
void phx_intake_failed (PhxIntake *self, PhxInvocation *inv);

G_END_DECLS
