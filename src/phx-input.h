/* phx-input.h — PhxInput: what a connection's incoming bytes are. Requests (cut by its
 * framer), or, once a request took the connection over (login), held back until that
 * request is answered and then a raw stream until the stream's end. */
#pragma once

#include "phx-framer.h"

G_BEGIN_DECLS

/* A stream's bytes, as they come; NULL once the host shut down its sending side. */
typedef void (*PhxStreamFunc) (GBytes *bytes, gpointer user_data);

typedef struct _PhxInput PhxInput;

PhxInput *phx_input_new (gsize max_line, PhxFrameFunc frame_func, PhxStreamFunc stream_func, gpointer user_data);
void phx_input_free (PhxInput *self);
gboolean phx_input_wants_bytes (PhxInput *self);
gboolean phx_input_wants_last_bytes (PhxInput *self);
gboolean phx_input_is_requests (PhxInput *self);
gboolean phx_input_is_stream (PhxInput *self);
gsize phx_input_get_buffered (PhxInput *self);
void phx_input_feed (PhxInput *self, const char *data, gsize len);
gboolean phx_input_feed_held (PhxInput *self);
void phx_input_eof (PhxInput *self);
void phx_input_reset (PhxInput *self);
GBytes *phx_input_steal_held (PhxInput *self);
void phx_input_take (PhxInput *self);
void phx_input_give_back (PhxInput *self);
void phx_input_begin_stream (PhxInput *self);
gboolean phx_input_pause_stream (PhxInput *self, gboolean paused);
void phx_input_end_stream (PhxInput *self, const guint8 *rest, gsize len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxInput, phx_input_free)

G_END_DECLS
