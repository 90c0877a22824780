/* phx-framer.h — turns a byte stream into request lines (LF or CRLF), bounded in size. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_FRAME_LINE,     /* a complete request line (CR, LF and surrounding blanks removed) */
        PHX_FRAME_OVERLONG, /* a line past the limit ended; its bytes were discarded */
} PhxFrameKind;

/* Called once per frame; `line` is only valid during the call (NUL-terminated; empty only
 * for PHX_FRAME_OVERLONG). */
typedef void (*PhxFrameFunc) (PhxFrameKind kind, const char *line, gsize len, gpointer user_data);

typedef struct _PhxFramer PhxFramer;

PhxFramer *phx_framer_new (gsize max_line, PhxFrameFunc func, gpointer user_data);
void phx_framer_free (PhxFramer *self);
void phx_framer_push (PhxFramer *self, const char *data, gsize len);
void phx_framer_reset (PhxFramer *self);
gsize phx_framer_get_buffered (PhxFramer *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxFramer, phx_framer_free)

G_END_DECLS
