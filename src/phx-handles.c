/* phx-handles.c — maps handle ids to open files. Ids start at 1 and only grow, so a host
 * holding a stale id can never reach somebody else's file. Handles outlive host
 * connections: only file-close, end of file or agent exit ends them. */
#define G_LOG_DOMAIN "phx-handles"

#include <errno.h>

#include "phx-error.h"
#include "phx-handles.h"

struct _PhxHandles {
        GHashTable *files; /* gint64* id -> PhxFile* */
        gint64 next_id;
        guint max;
};

PhxHandles *
phx_handles_new (guint max)
{
        PhxHandles *self = g_new0 (PhxHandles, 1);

        self->files = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                             (GDestroyNotify) phx_file_free);
        self->next_id = 1;
        self->max = max;
        return self;
}

void
phx_handles_free (PhxHandles *self)
{
        if (self == NULL)
                return;
        g_hash_table_unref (self->files);
        g_free (self);
}

/* Takes ownership of file, also on failure. */
gint64
phx_handles_insert (PhxHandles *self, PhxFile *file, GError **error)
{
        if (g_hash_table_size (self->files) >= self->max) {
                phx_file_free (file);
                phx_error_set (error, EMFILE, "too many open handles (limit %u)", self->max);
                return 0;
        }
        file->id = self->next_id++;
        g_hash_table_insert (self->files, &file->id, file);
        return file->id;
}

PhxFile *
phx_handles_lookup (PhxHandles *self, gint64 id, GError **error)
{
        PhxFile *file = g_hash_table_lookup (self->files, &id);

        if (file == NULL || file->closed)
                phx_error_set (error, EBADF, "unknown handle %" G_GINT64_FORMAT, id);
        return file != NULL && !file->closed ? file : NULL;
}

void
phx_handles_remove (PhxHandles *self, gint64 id)
{
        g_hash_table_remove (self->files, &id);
}

guint
phx_handles_count (PhxHandles *self)
{
        return g_hash_table_size (self->files);
}
