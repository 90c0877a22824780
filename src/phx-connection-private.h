/* phx-connection-private.h — PhxConnection's state, shared by the files that implement it:
 * phx-connection.c (requests, replies, timeouts) and phx-connection-stream.c (a connection
 * a request turned into a stream). Nothing else includes it. */
#pragma once

#include "phx-connection.h"
#include "phx-framer.h"

G_BEGIN_DECLS

typedef enum {
        PHX_INPUT_REQUESTS, /* bytes are framed into requests */
        PHX_INPUT_HELD,     /* a request that takes the connection is being answered: read nothing */
        PHX_INPUT_STREAM,   /* a stream: bytes go out as they come ("stream") */
} PhxInput;

struct _PhxConnection {
        GObject parent_instance;
        guint id;
        int fd;
        gboolean is_socket;   /* owns fd; else a borrowed port */
        gboolean closed;
        gboolean paused;      /* the budget is exhausted: take no more requests */
        gboolean in_read;     /* replies made while reading are written together after */
        gboolean peer_eof;    /* a socket host shut down its sending side */
        gboolean blocked;     /* a write met EAGAIN and the queue has not drained since */
        guint pending;        /* requests taken and not yet answered */
        guint resume_id;
        gboolean backlogged;  /* past its own limits (see over_limits): take no more */
        gboolean behind;      /* the last flush left replies the socket would not take */
        gsize queue_high;     /* 0: no bound of its own (a port: the budget bounds it) */
        guint idle_ms;        /* 0: a connection may stay idle for ever */
        guint stall_ms;       /* 0: a host may leave its replies unread for ever */
        gint64 last_heard;    /* when the host last sent bytes */
        gint64 last_taken;    /* when the host last took reply bytes (or the queue began) */
        gint64 timer_due;     /* the deadline the owner was last given; 0: none */
        PhxBudget *budget;
        PhxFramer *framer;
        gsize max_line;
        GQueue out;           /* GBytes* waiting to be written */
        GByteArray *tail;     /* small replies gathered after `out`, not yet a part */
        gsize tail_size;      /* what the tail was allocated with */
        gsize out_offset;     /* bytes of the head already written */
        gsize out_bytes;      /* in `out` and `tail` */
        gsize charged;        /* what the queue holds against the budget */
        char *readbuf;
        /* what its bytes are (phx-connection-stream.c) */
        PhxInput input;
        gboolean stream_paused; /* the stream's consumer takes no more for now */
        GByteArray *held;       /* bytes read after the request that took the connection */
};

/* phx-connection.c */
gboolean phx_connection_on_resume (gpointer user_data);
void phx_connection_maybe_finish (PhxConnection *self);
void phx_connection_emit_stream (PhxConnection *self, GBytes *bytes);

/* phx-connection-stream.c */
gboolean phx_connection_takes_input (PhxConnection *self);
void phx_connection_feed (PhxConnection *self, const char *data, gsize len);
gboolean phx_connection_feed_held (PhxConnection *self);
void phx_connection_stream_eof (PhxConnection *self);

G_END_DECLS
