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

/* Emits [line, line+len) after trimming; line[len] must be writable. */
static void
emit_line (PhxFramer *self, char *line, gsize len)
{
        char saved;

        while (len > 0 && is_blank (line[len - 1]))
                len--;
        while (len > 0 && is_blank (*line)) {
                line++;
                len--;
        }
        if (len == 0)
                return;
        /* Callers get a C string without a copy: borrow the byte after the line. */
        saved = line[len];
        line[len] = '\0';
        self->func (PHX_FRAME_LINE, line, len, self->user_data);
        line[len] = saved;
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
                        self->func (PHX_FRAME_OVERLONG, "", 0, self->user_data);
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

                /* The '\n' is kept in the buffer so emit_line can borrow its byte. */
                g_byte_array_append (self->buf, (const guint8 *) data, take + 1);
                data += take + 1;
                len -= take + 1;
                emit_line (self, (char *) self->buf->data, self->buf->len - 1);
                release_buffer (self);
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
