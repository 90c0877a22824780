/* phx-spare-buffer.c — keeps the buffer of the last large file-read for the next one. A
 * read's buffer is mmap'ed memory (transfer buffers go back to the kernel when freed, see
 * main.c), so every read of a stream of them paid for fresh pages: zeroed, charged, mapped,
 * unmapped, a third of its CPU. One buffer of at most `max` bytes is kept while a handle is
 * open, and freed when the last one closes, so an agent with no open file holds none. Reads run in workers and
 * replies are freed where they are written: a mutex, held for a pointer swap. */
#define G_LOG_DOMAIN "phx-spare-buffer"

#include "phx-spare-buffer.h"

struct _PhxSpareBuffer {
        GMutex lock;
        char *buf; /* the kept buffer, or NULL */
        gsize size;
        gsize max;
        gboolean keep; /* buffers coming back are kept (a handle is open) */
        gint refs; /* the owner's, and one per reply still holding a buffer */
};

typedef struct {
        PhxSpareBuffer *spare;
        char *buf;
        gsize size;
} Lent;

PhxSpareBuffer *
phx_spare_buffer_new (gsize max)
{
        PhxSpareBuffer *self = g_new0 (PhxSpareBuffer, 1);

        g_mutex_init (&self->lock);
        self->max = max;
        self->refs = 1;
        return self;
}

static void
unref (PhxSpareBuffer *self)
{
        if (!g_atomic_int_dec_and_test (&self->refs))
                return;
        g_free (self->buf);
        g_mutex_clear (&self->lock);
        g_free (self);
}

/* The owner lets go; replies still out return their buffers to nobody. */
void
phx_spare_buffer_free (PhxSpareBuffer *self)
{
        if (self == NULL)
                return;
        phx_spare_buffer_set_keep (self, FALSE);
        unref (self);
}

/* A buffer of at least *size bytes (*size: what it has): the kept one if it is large enough
 * and not more than twice that (*fresh FALSE: its pages are already there), else a new one. */
char *
phx_spare_buffer_take (PhxSpareBuffer *self, gsize *size, gboolean *fresh)
{
        char *buf = NULL;

        g_mutex_lock (&self->lock);
        if (self->buf != NULL && self->size >= *size && *size * 2 > self->size) {
                buf = g_steal_pointer (&self->buf);
                *size = self->size;
                self->size = 0;
        }
        g_mutex_unlock (&self->lock);
        *fresh = buf == NULL;
        return buf != NULL ? buf : g_malloc (*size);
}

static void
give_back (gpointer data)
{
        Lent *lent = data;
        PhxSpareBuffer *self = lent->spare;

        g_mutex_lock (&self->lock);
        if (self->keep && lent->size <= self->max && lent->size > self->size) {
                g_free (self->buf);
                self->buf = g_steal_pointer (&lent->buf);
                self->size = lent->size;
        }
        g_mutex_unlock (&self->lock);
        g_free (lent->buf);
        g_free (lent);
        unref (self);
}

/* `len` bytes of `buf` (allocated `size` bytes, from take) as the reply's payload; the
 * buffer comes back here when the reply is gone. */
GBytes *
phx_spare_buffer_wrap (PhxSpareBuffer *self, char *buf, gsize size, gsize len)
{
        Lent *lent = g_new0 (Lent, 1);

        g_atomic_int_inc (&self->refs);
        lent->spare = self;
        lent->buf = buf;
        lent->size = size;
        return g_bytes_new_with_free_func (buf, len, give_back, lent);
}

/* keep: a handle is open, buffers are kept for its next read; else the kept one is freed
 * and the ones replies still hold will be when they come back. */
void
phx_spare_buffer_set_keep (PhxSpareBuffer *self, gboolean keep)
{
        char *buf = NULL;

        g_mutex_lock (&self->lock);
        self->keep = keep;
        if (!keep) {
                buf = g_steal_pointer (&self->buf);
                self->size = 0;
        }
        g_mutex_unlock (&self->lock);
        g_free (buf);
}
