/* phx-framer.c — splits the port's byte stream into request lines. It never holds more than
 * the request limit: an over-long line is discarded as it arrives and reported once its
 * newline shows up, so a hostile host cannot make the agent allocate without bound. */
#define G_LOG_DOMAIN "phx-framer"

#include <string.h>

#include "phx-framer.h"
#include "phx-limits.h"

struct _PhxFramer {
        gsize max_line;
        GByteArray *buf;      /* bytes of the current, unfinished line */
        gboolean draining;    /* the current line is over the limit: drop until newline */
        PhxFrameFunc func;
        gpointer user_data;
};

PhxFramer *
phx_framer_new (gsize max_line, PhxFrameFunc func, gpointer user_data)
{
        PhxFramer *self = g_new0 (PhxFramer, 1);

        self->max_line = max_line;
        self->buf = g_byte_array_new ();
        self->func = func;
        self->user_data = user_data;
        return self;
}

void
phx_framer_free (PhxFramer *self)
{
        if (self == NULL)
                return;
        g_byte_array_unref (self->buf);
        g_free (self);
}

static gboolean
is_blank (char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static void
trim (const char **line, gsize *len)
{
        while (*len > 0 && is_blank ((*line)[*len - 1]))
                (*len)--;
        while (*len > 0 && is_blank (**line)) {
                (*line)++;
                (*len)--;
        }
}

/* A line that arrived within one read: copied, it is small in practice. */
static void
emit_copy (PhxFramer *self, const char *line, gsize len)
{
        g_autoptr(GBytes) bytes = NULL;
        char *copy;

        trim (&line, &len);
        if (len == 0)
                return;
        copy = g_malloc (len + 1);
        memcpy (copy, line, len);
        copy[len] = '\0';
        bytes = g_bytes_new_take (copy, len);
        self->func (PHX_FRAME_LINE, bytes, self->user_data);
}

/* A line gathered over several reads: the buffer itself is handed over, so a 64 MiB
 * file-write request is never copied. buf ends with the line's '\n'. */
static void
emit_buffer (PhxFramer *self)
{
        g_autoptr(GBytes) whole = NULL;
        g_autoptr(GBytes) bytes = NULL;
        const char *base, *line;
        gsize len = self->buf->len - 1;

        self->buf->data[len] = '\0';
        base = line = (const char *) self->buf->data;
        trim (&line, &len);
        whole = g_byte_array_free_to_bytes (g_steal_pointer (&self->buf));
        self->buf = g_byte_array_new ();
        if (len == 0)
                return;
        /* The byte after a trimmed line is a blank inside our own buffer: make it the NUL. */
        ((char *) line)[len] = '\0';
        bytes = g_bytes_new_from_bytes (whole, line - base, len);
        self->func (PHX_FRAME_LINE, bytes, self->user_data);
}

static void
release_buffer (PhxFramer *self)
{
        /* A 64 MiB line must not pin 64 MiB until the next one arrives. */
        if (self->buf->len > PHX_LINEBUF_KEEP) {
                g_byte_array_unref (self->buf);
                self->buf = g_byte_array_new ();
        } else {
                g_byte_array_set_size (self->buf, 0);
        }
}

void
phx_framer_push (PhxFramer *self, const char *data, gsize len)
{
        while (len > 0) {
                const char *nl = memchr (data, '\n', len);
                gsize take = nl != NULL ? (gsize) (nl - data) : len;

                if (self->draining) {
                        if (nl == NULL)
                                return;
                        self->draining = FALSE;
                        data += take + 1;
                        len -= take + 1;
                        self->func (PHX_FRAME_OVERLONG, NULL, self->user_data);
                        continue;
                }

                if (self->buf->len + take > self->max_line) {
                        release_buffer (self);
                        self->draining = TRUE;
                        continue;
                }

                if (nl == NULL) {
                        g_byte_array_append (self->buf, (const guint8 *) data, len);
                        return;
                }

                if (self->buf->len == 0) {
                        emit_copy (self, data, take);
                } else {
                        g_byte_array_append (self->buf, (const guint8 *) data, take + 1);
                        emit_buffer (self);
                }
                data += take + 1;
                len -= take + 1;
        }
}

void
phx_framer_reset (PhxFramer *self)
{
        self->draining = FALSE;
        release_buffer (self);
}

gsize
phx_framer_get_buffered (PhxFramer *self)
{
        return self->buf->len;
}
