/* phx-spare-buffer.h — one large buffer kept between file reads (see phx-spare-buffer.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PhxSpareBuffer PhxSpareBuffer;

PhxSpareBuffer *phx_spare_buffer_new (gsize max);
void phx_spare_buffer_free (PhxSpareBuffer *self);
char *phx_spare_buffer_take (PhxSpareBuffer *self, gsize *size, gboolean *fresh);
GBytes *phx_spare_buffer_wrap (PhxSpareBuffer *self, char *buf, gsize size, gsize len);
void phx_spare_buffer_set_keep (PhxSpareBuffer *self, gboolean keep);

G_END_DECLS
