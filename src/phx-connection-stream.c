/* phx-connection-stream.c — a connection that one of its requests takes over (doc/protocol.md,
 * "Login terminal"). From that request on nothing more is framed or read: the taker either
 * gives the input back (its request was refused: what followed it is requests again) or
 * makes the connection a stream, whose bytes go out as they come through "stream" until the
 * taker ends it and hands back what followed the stream's end. Replies and the taker's
 * output share the one queue, so its reply goes out before the stream's first byte. */
#define G_LOG_DOMAIN "phx-connection"

#include <string.h>

#include "phx-connection-private.h"

static void
hold (PhxConnection *self, const char *data, gsize len)
{
        if (len == 0)
                return;
        if (self->held == NULL)
                self->held = g_byte_array_new ();
        g_byte_array_append (self->held, (const guint8 *) data, len);
}

static void
resume_soon (PhxConnection *self)
{
        if (!self->closed && self->resume_id == 0)
                self->resume_id = g_idle_add (phx_connection_on_resume, self);
}

/* Whether the host's bytes are to be read now. Bytes held back go first, in order. */
gboolean
phx_connection_takes_input (PhxConnection *self)
{
        if (self->held != NULL && self->held->len > 0)
                return FALSE;
        return self->input == PHX_INPUT_REQUESTS || (self->input == PHX_INPUT_STREAM && !self->stream_paused);
}

/* Bytes the host sent: framed into requests, or the stream's. A request that takes the
 * connection stops the framer; what it did not look at is held back. */
void
phx_connection_feed (PhxConnection *self, const char *data, gsize len)
{
        gsize took;

        if (self->input == PHX_INPUT_STREAM) {
                g_autoptr(GBytes) bytes = g_bytes_new (data, len);

                phx_connection_emit_stream (self, bytes);
                return;
        }
        took = phx_framer_push (self->framer, data, len);
        hold (self, data + took, len - took);
}

/* From the loop, before reading on: what was held back, once its fate is known. FALSE when
 * the connection is not to read on (still held, a paused stream, or closed). */
gboolean
phx_connection_feed_held (PhxConnection *self)
{
        g_autoptr(GByteArray) held = NULL;

        if (self->input == PHX_INPUT_HELD || (self->input == PHX_INPUT_STREAM && self->stream_paused))
                return FALSE;
        if (self->held == NULL || self->held->len == 0)
                return !self->closed;
        held = g_steal_pointer (&self->held);
        g_object_ref (self);
        phx_connection_feed (self, (const char *) held->data, held->len);
        g_object_unref (self);
        return !self->closed;
}

/* The host shut down its sending side. */
void
phx_connection_stream_eof (PhxConnection *self)
{
        if (self->input == PHX_INPUT_STREAM)
                phx_connection_emit_stream (self, NULL);
}

/* From within "line": the request just framed takes the connection. */
void
phx_connection_take_input (PhxConnection *self)
{
        g_return_if_fail (self->input == PHX_INPUT_REQUESTS);
        self->input = PHX_INPUT_HELD;
        phx_framer_stop (self->framer);
}

/* The request that took the connection was refused: what followed it is requests. */
void
phx_connection_give_back_input (PhxConnection *self)
{
        g_return_if_fail (self->input == PHX_INPUT_HELD);
        self->input = PHX_INPUT_REQUESTS;
        resume_soon (self);
}

/* The request's reply is queued: from here on the host's bytes are the stream's. */
void
phx_connection_begin_stream (PhxConnection *self)
{
        g_return_if_fail (self->input == PHX_INPUT_HELD);
        self->input = PHX_INPUT_STREAM;
        self->stream_paused = FALSE;
        resume_soon (self);
}

/* The stream's consumer cannot take more for now (its bound), or can again. */
void
phx_connection_pause_stream (PhxConnection *self, gboolean paused)
{
        if (self->input != PHX_INPUT_STREAM || self->stream_paused == paused)
                return;
        self->stream_paused = paused;
        if (!paused)
                resume_soon (self);
}

gboolean
phx_connection_is_stream (PhxConnection *self)
{
        return self->input == PHX_INPUT_STREAM;
}

/* The stream ended. rest: bytes the consumer was given after the stream's last frame, which
 * are requests; they go before anything not read yet. */
void
phx_connection_end_stream (PhxConnection *self, const guint8 *rest, gsize len)
{
        g_return_if_fail (self->input == PHX_INPUT_STREAM);
        self->input = PHX_INPUT_REQUESTS;
        self->stream_paused = FALSE;
        phx_framer_reset (self->framer);
        if (len > 0) {
                if (self->held == NULL)
                        self->held = g_byte_array_new ();
                g_byte_array_prepend (self->held, rest, len);
        }
        resume_soon (self);
}
