/* phx-input.c — what a connection's incoming bytes are (doc/protocol.md, "Login terminal").
 * Requests, cut by the framer; from a request that takes the connection over, nothing more:
 * the bytes behind it are held until its fate is known. Refused, they are given back and
 * framed as requests; answered, they and what follows are a stream, handed on raw until the
 * stream's consumer ends it and gives back what followed the stream's end.
 *
 * The connection owns it and calls it; it calls nothing but its two callbacks, and tells
 * the connection whether to read on by what its functions return. */
#define G_LOG_DOMAIN "phx-input"

#include <string.h>

#include "phx-input.h"

typedef enum {
        INPUT_REQUESTS, /* framed into requests */
        INPUT_HELD,     /* a request that takes the connection is being answered: none taken */
        INPUT_STREAM,   /* a stream: handed on as they come */
} Mode;

struct _PhxInput {
        PhxFramer *framer;
        PhxStreamFunc stream_func;
        gpointer user_data;
        Mode mode;
        gboolean stream_paused; /* the stream's consumer takes no more for now */
        GByteArray *held;       /* bytes not taken yet, in order before any not read yet */
};

PhxInput *
phx_input_new (gsize max_line, PhxFrameFunc frame_func, PhxStreamFunc stream_func, gpointer user_data)
{
        PhxInput *self = g_new0 (PhxInput, 1);

        self->framer = phx_framer_new (max_line, frame_func, user_data);
        self->stream_func = stream_func;
        self->user_data = user_data;
        return self;
}

void
phx_input_free (PhxInput *self)
{
        phx_framer_free (self->framer);
        g_clear_pointer (&self->held, g_byte_array_unref);
        g_free (self);
}

static void
hold (PhxInput *self, const char *data, gsize len)
{
        if (len == 0)
                return;
        if (self->held == NULL)
                self->held = g_byte_array_new ();
        g_byte_array_append (self->held, (const guint8 *) data, len);
}

/* Whether the connection is to read the host's bytes now: not while some are held. */
gboolean
phx_input_wants_bytes (PhxInput *self)
{
        if (self->held != NULL && self->held->len > 0)
                return FALSE;
        return self->mode == INPUT_REQUESTS || (self->mode == INPUT_STREAM && !self->stream_paused);
}

/* A departed host's last bytes are read only while they are its stream's, paused or not:
 * its frames must not reach the next host, and what follows the stream's end is the next
 * host's (given back, then taken by phx_input_steal_held). */
gboolean
phx_input_wants_last_bytes (PhxInput *self)
{
        return self->mode == INPUT_STREAM && (self->held == NULL || self->held->len == 0);
}

gboolean
phx_input_is_requests (PhxInput *self)
{
        return self->mode == INPUT_REQUESTS;
}

gboolean
phx_input_is_stream (PhxInput *self)
{
        return self->mode == INPUT_STREAM;
}

/* Bytes of an unfinished request. */
gsize
phx_input_get_buffered (PhxInput *self)
{
        return phx_framer_get_buffered (self->framer);
}

/* Bytes the host sent: framed, or the stream's. A request that takes the connection stops
 * the framer; what it did not look at is held. */
void
phx_input_feed (PhxInput *self, const char *data, gsize len)
{
        gsize took;

        if (self->mode == INPUT_STREAM) {
                g_autoptr(GBytes) bytes = g_bytes_new (data, len);

                self->stream_func (bytes, self->user_data);
                return;
        }
        took = phx_framer_push (self->framer, data, len);
        hold (self, data + took, len - took);
}

/* Before the connection reads on: what was held, once its fate is known. FALSE when it is
 * not to read on (still held, or a paused stream). Its callbacks may close the connection:
 * the caller looks. */
gboolean
phx_input_feed_held (PhxInput *self)
{
        g_autoptr(GByteArray) held = NULL;

        if (self->mode == INPUT_HELD || (self->mode == INPUT_STREAM && self->stream_paused))
                return FALSE;
        if (self->held == NULL || self->held->len == 0)
                return TRUE;
        held = g_steal_pointer (&self->held);
        phx_input_feed (self, (const char *) held->data, held->len);
        return TRUE;
}

/* The host shut down its sending side. */
void
phx_input_eof (PhxInput *self)
{
        if (self->mode == INPUT_STREAM)
                self->stream_func (NULL, self->user_data);
}

/* The connection ended: a half-read request and held bytes are forgotten. */
void
phx_input_reset (PhxInput *self)
{
        phx_framer_reset (self->framer);
        g_clear_pointer (&self->held, g_byte_array_unref);
}

/* Bytes given back by a stream that ended and not framed yet (NULL if none): its host left,
 * so they are the next one's. Only between requests: held behind a request that took the
 * connection, they are that host's. */
GBytes *
phx_input_steal_held (PhxInput *self)
{
        if (self->mode != INPUT_REQUESTS || self->held == NULL || self->held->len == 0)
                return NULL;
        return g_byte_array_free_to_bytes (g_steal_pointer (&self->held));
}

/* From within a frame: that request takes the connection. */
void
phx_input_take (PhxInput *self)
{
        g_return_if_fail (self->mode == INPUT_REQUESTS);
        self->mode = INPUT_HELD;
        phx_framer_stop (self->framer);
}

/* It was refused: what followed it is requests. */
void
phx_input_give_back (PhxInput *self)
{
        g_return_if_fail (self->mode == INPUT_HELD);
        self->mode = INPUT_REQUESTS;
}

/* Its reply is queued: from here on the bytes are the stream's. */
void
phx_input_begin_stream (PhxInput *self)
{
        g_return_if_fail (self->mode == INPUT_HELD);
        self->mode = INPUT_STREAM;
        self->stream_paused = FALSE;
}

/* The stream's consumer cannot take more for now, or can again: TRUE when the connection is
 * to read on. */
gboolean
phx_input_pause_stream (PhxInput *self, gboolean paused)
{
        if (self->mode != INPUT_STREAM || self->stream_paused == paused)
                return FALSE;
        self->stream_paused = paused;
        return !paused;
}

/* The stream ended. rest: bytes its consumer was given after its last frame, which are
 * requests; they go before anything held or not read yet. */
void
phx_input_end_stream (PhxInput *self, const guint8 *rest, gsize len)
{
        g_return_if_fail (self->mode == INPUT_STREAM);
        self->mode = INPUT_REQUESTS;
        self->stream_paused = FALSE;
        phx_framer_reset (self->framer);
        if (len > 0) {
                if (self->held == NULL)
                        self->held = g_byte_array_new ();
                g_byte_array_prepend (self->held, rest, len);
        }
}
