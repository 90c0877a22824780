/* phx-handles.h — the table of open file handles (main thread only). */
#pragma once

#include "phx-file.h"

G_BEGIN_DECLS

typedef struct _PhxHandles PhxHandles;

PhxHandles *phx_handles_new (guint max);
void phx_handles_free (PhxHandles *self);
gint64 phx_handles_insert (PhxHandles *self, PhxFile *file, GError **error);
PhxFile *phx_handles_lookup (PhxHandles *self, gint64 id, GError **error);
void phx_handles_remove (PhxHandles *self, gint64 id);
guint phx_handles_count (PhxHandles *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxHandles, phx_handles_free)

G_END_DECLS
