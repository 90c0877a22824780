/* phx-handle-table.h — the files family's open handles: ids, slots reserved before a file
 * is opened, and the lane each handle's calls run in (main thread only). */
#pragma once

#include "phx-family.h"
#include "phx-file.h"

G_BEGIN_DECLS

typedef struct {
        gint64 id;
        PhxFile *file;
        PhxLane lane;       /* calls on this handle run one at a time, in order */
        PhxCall *running;   /* the call running on it now, if any */
        gboolean closing;   /* a file-close was taken: later calls find no handle */
        gboolean used;      /* a call ran on it since it was opened */
        GWeakRef opener;    /* the connection that opened it (NULL: gone, or opened by the agent) */
        gint refs;          /* the table's, and one per call admitted on it */
} PhxHandle;

typedef gboolean (*PhxHandleFilter) (PhxHandle *handle);

PhxHandle *phx_handle_ref (PhxHandle *handle);
void phx_handle_unref (PhxHandle *handle);

typedef struct _PhxHandleTable PhxHandleTable;

PhxHandleTable *phx_handle_table_new (guint max);
void phx_handle_table_free (PhxHandleTable *self);
gboolean phx_handle_table_persist_ids (PhxHandleTable *self, const char *state_file, GError **error);
gboolean phx_handle_table_reserve (PhxHandleTable *self, GError **error);
void phx_handle_table_unreserve (PhxHandleTable *self);
PhxHandle *phx_handle_table_add (PhxHandleTable *self, PhxFile *file);
PhxHandle *phx_handle_table_lookup (PhxHandleTable *self, gint64 id, GError **error);
void phx_handle_table_remove (PhxHandleTable *self, PhxHandle *handle);
guint phx_handle_table_count (PhxHandleTable *self);
PhxHandle *phx_handle_table_find_oldest (PhxHandleTable *self, PhxHandleFilter filter);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxHandleTable, phx_handle_table_free)

G_END_DECLS
