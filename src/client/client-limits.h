/* client-limits.h — every bound of phoenix-ga-client, in one place (the agent's are in
 * phx-limits.h). */
#pragma once

#include "phx-limits.h"

/* the largest reply line accepted: a full file-read of PHX_READ_COUNT_MAX bytes in base64,
 * plus room for the envelope */
#define CLIENT_REPLY_MAX (PHX_READ_COUNT_MAX / 3 * 4 + 64 * 1024)

/* the reply buffer grows so that each read() has at least this much room */
#define CLIENT_READ_MIN ((gsize) 4 * 1024 * 1024)

/* put: bytes per file-write (the agent writes about as fast with 16 as with 32 MiB chunks) */
#define CLIENT_PUT_CHUNK ((gint64) 16 * 1024 * 1024)

/* chunks waiting for the hashing thread: when hashing is slower than the link, the transfer
 * waits instead of queueing the whole file in memory */
#define CLIENT_HASH_QUEUE_MAX 2

/* __complete-path: matches printed for one completion (bash asks before showing more than
 * its own completion-query-items anyway) */
#define CLIENT_COMPLETE_MAX 1000

/* exec: stdin sent with the command, at most (it travels in one request) */
#define CLIENT_EXEC_INPUT_MAX ((gsize) 48 * 1024 * 1024)

/* exec: how often the output is asked for, from at once while it flows to this while the
 * command is quiet */
#define CLIENT_EXEC_POLL_MIN_MS 10
#define CLIENT_EXEC_POLL_MAX_MS 200


/* login: the largest frame either side sends (the protocol's bound, 64 KiB); a longer one
 * from the agent means the stream is broken */
#define CLIENT_LOGIN_FRAME_MAX ((gsize) 64 * 1024)

/* login: a terminal name (terminfo's): letters, digits, ._+- and at most this many bytes */
#define CLIENT_LOGIN_TERM_MAX 64

/* login: the terminal's output waiting for stdout before the agent is read no more, and the
 * input waiting for the agent before stdin is read no more (the flow control of each way) */
#define CLIENT_LOGIN_OUTPUT_QUEUE ((gsize) 256 * 1024)
#define CLIENT_LOGIN_INPUT_QUEUE ((gsize) 256 * 1024)

/* login: after ~. how long the agent has to say the session ended (its hang-up grace is 5 s,
 * then 2 s for the output left behind) before the client leaves without its word */
#define CLIENT_LOGIN_HANGUP_WAIT_MS 10000

/* login: after the end (`x`), how long the client tries to send `e` */
#define CLIENT_LOGIN_END_WAIT_MS 5000
