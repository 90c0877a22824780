/* phx-framer.h — turns a byte stream into request lines (LF or CRLF), bounded in size. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_FRAME_LINE,     /* a complete request line (CR, LF and surrounding blanks removed) */
        PHX_FRAME_OVERLONG, /* a line past the limit ended; its bytes were discarded */
} PhxFrameKind;

/* Called once per frame with the line (CR, LF and surrounding blanks removed; NULL for
 * PHX_FRAME_OVERLONG). The byte just past the line's end is a NUL, so its data is also a C
 * string. Keep a reference to hold on to it: a large line is never copied. */
typedef void (*PhxFrameFunc) (PhxFrameKind kind, GBytes *line, gpointer user_data);

typedef struct _PhxFramer PhxFramer;

PhxFramer *phx_framer_new (gsize max_line, PhxFrameFunc func, gpointer user_data);
void phx_framer_free (PhxFramer *self);
gsize phx_framer_push (PhxFramer *self, const char *data, gsize len);
void phx_framer_stop (PhxFramer *self);
void phx_framer_reset (PhxFramer *self);
gsize phx_framer_get_buffered (PhxFramer *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxFramer, phx_framer_free)

G_END_DECLS
