/* phx-handle-table.c — maps handle ids to open files. Ids start at 1 and only grow, so a host
 * holding a stale id can never reach somebody else's file; with a state file they keep
 * growing across agent restarts too (see phx_handle_table_persist_ids). A slot is reserved before a file
 * is opened, so a full table answers EMFILE without touching the file (opening "w" first
 * used to truncate it, and "force" to unlink it, before the table said no). Handles outlive
 * host connections: only file-close, end of file or agent exit ends them. A handle is freed
 * when the table and every call admitted on it have let go, so a call queued behind a
 * file-close finds it closed, never freed. */
#define G_LOG_DOMAIN "phx-handle-table"

#include <errno.h>
#include <stdlib.h>

#include "phx-error.h"
#include "phx-handle-table.h"
#include "phx-limits.h"

struct _PhxHandleTable {
        GHashTable *handles; /* gint64* id -> PhxHandle* (the table's reference) */
        gint64 next_id;
        guint reserved;
        guint max;
        char *state_file;    /* where the first id the next run may use is kept, or NULL */
        gint64 claimed;      /* ids below this are promised to this run by the state file */
};

PhxHandle *
phx_handle_ref (PhxHandle *handle)
{
        handle->refs++;
        return handle;
}

void
phx_handle_unref (PhxHandle *handle)
{
        if (handle == NULL || --handle->refs > 0)
                return;
        /* an unfinished atomic write is discarded here, leaving its target untouched */
        phx_file_free (handle->file);
        g_weak_ref_clear (&handle->opener);
        g_queue_clear (&handle->lane.pending);
        g_free (handle);
}

PhxHandleTable *
phx_handle_table_new (guint max)
{
        PhxHandleTable *self = g_new0 (PhxHandleTable, 1);

        self->handles = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                               (GDestroyNotify) phx_handle_unref);
        self->next_id = 1;
        self->max = max;
        return self;
}

void
phx_handle_table_free (PhxHandleTable *self)
{
        if (self == NULL)
                return;
        g_hash_table_unref (self->handles);
        g_free (self->state_file);
        g_free (self);
}

/* Claims ids up to next_id + PHX_HANDLE_ID_BLOCK for this run, before the first of them is
 * given: a run that dies right after never left an id the next one could give again. */
static gboolean
claim_block (PhxHandleTable *self, GError **error)
{
        gint64 until = self->next_id + PHX_HANDLE_ID_BLOCK;
        g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT "\n", until);
        g_autoptr(GError) local = NULL;

        if (!g_file_set_contents_full (self->state_file, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local)) {
                phx_error_set (error, local->code == G_FILE_ERROR_NOSPC ? ENOSPC : EIO, "%s", local->message);
                return FALSE;
        }
        self->claimed = until;
        return TRUE;
}

/* Ids continue after the last run's (its state file says where), so that a host still
 * holding a handle from before an agent restart finds it unknown instead of reaching a file
 * somebody opened since. A block of ids is written ahead, not one per open. The file
 * belongs on tmpfs (the runtime directory): a reboot closes every handle anyway, and the
 * host learns of it when the port closes. Without a usable file, ids start at 1. */
gboolean
phx_handle_table_persist_ids (PhxHandleTable *self, const char *state_file, GError **error)
{
        g_autofree char *text = NULL;

        g_return_val_if_fail (self->state_file == NULL, FALSE);
        self->state_file = g_strdup (state_file);
        if (g_file_get_contents (state_file, &text, NULL, NULL)) {
                char *end = NULL;
                gint64 saved = g_ascii_strtoll (text, &end, 10);

                if (end != text && saved > self->next_id && saved < PHX_HANDLE_ID_MAX)
                        self->next_id = saved;
        }
        if (!claim_block (self, error)) {
                g_clear_pointer (&self->state_file, g_free);
                return FALSE;
        }
        return TRUE;
}

gboolean
phx_handle_table_reserve (PhxHandleTable *self, GError **error)
{
        if (g_hash_table_size (self->handles) + self->reserved >= self->max) {
                phx_error_set (error, EMFILE, "too many open handles (limit %u)", self->max);
                return FALSE;
        }
        self->reserved++;
        return TRUE;
}

void
phx_handle_table_unreserve (PhxHandleTable *self)
{
        g_return_if_fail (self->reserved > 0);
        self->reserved--;
}

/* Files `file` under a new id, in a slot reserved before; takes ownership of it. */
PhxHandle *
phx_handle_table_add (PhxHandleTable *self, PhxFile *file)
{
        PhxHandle *handle = g_new0 (PhxHandle, 1);

        phx_handle_table_unreserve (self);
        if (self->state_file != NULL && self->next_id >= self->claimed) {
                g_autoptr(GError) error = NULL;

                /* ids stay unique within this run whatever happens to the file; said once */
                if (!claim_block (self, &error)) {
                        g_warning ("handle ids may repeat after a restart: %s", error->message);
                        g_clear_pointer (&self->state_file, g_free);
                }
        }
        handle->id = self->next_id++;
        handle->file = file;
        handle->refs = 1;
        g_weak_ref_init (&handle->opener, NULL);
        g_hash_table_insert (self->handles, &handle->id, handle);
        return handle;
}

PhxHandle *
phx_handle_table_lookup (PhxHandleTable *self, gint64 id, GError **error)
{
        PhxHandle *handle = g_hash_table_lookup (self->handles, &id);

        if (handle == NULL || handle->closing || handle->file->closed) {
                phx_error_set (error, EBADF, "unknown handle %" G_GINT64_FORMAT, id);
                return NULL;
        }
        return handle;
}

void
phx_handle_table_remove (PhxHandleTable *self, PhxHandle *handle)
{
        if (g_hash_table_lookup (self->handles, &handle->id) == handle)
                g_hash_table_remove (self->handles, &handle->id);
}

guint
phx_handle_table_count (PhxHandleTable *self)
{
        return g_hash_table_size (self->handles);
}

/* The handle with the smallest id that `filter` accepts, or NULL. */
PhxHandle *
phx_handle_table_find_oldest (PhxHandleTable *self, PhxHandleFilter filter)
{
        GHashTableIter iter;
        PhxHandle *handle, *oldest = NULL;

        g_hash_table_iter_init (&iter, self->handles);
        while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &handle)) {
                if ((oldest == NULL || handle->id < oldest->id) && filter (handle))
                        oldest = handle;
        }
        return oldest;
}
