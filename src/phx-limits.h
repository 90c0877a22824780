/* phx-limits.h — every bound phoenix-ga enforces, in one place.
 * Nothing else in the tree may hard-code a size, count or depth limit. */
#pragma once

/* Longest request line (bytes, excluding the newline). A 48 MiB file-write chunk is
 * 64 MiB of base64, plus the envelope; longer lines are drained and answered with an error. */
#define PHX_REQUEST_MAX ((gsize) 80 * 1024 * 1024)

/* Deepest JSON nesting accepted. Real requests nest three levels; the bound keeps the
 * parser's recursion (and so its stack) small whatever the host sends. */
#define PHX_JSON_DEPTH_MAX 32

/* Lines at least this long are parsed in a worker thread so the main loop keeps serving. */
#define PHX_REQUEST_OFFLOAD_MIN ((gsize) 256 * 1024)

/* file-read: default and largest `count`. */
#define PHX_READ_COUNT_DEFAULT 4096
#define PHX_READ_COUNT_MAX ((gint64) 48 * 1024 * 1024)

/* Largest decoded file-write chunk (what PHX_REQUEST_MAX lets through, rounded down). */
#define PHX_WRITE_CHUNK_MAX ((gsize) 60 * 1024 * 1024)

/* Open file handles at once; one more answers EMFILE. */
#define PHX_HANDLES_MAX 128

/* Read size used when hashing or copying files. */
#define PHX_IO_CHUNK ((gsize) 1024 * 1024)

/* Replies gathered into one writev(2) while a read is being processed. */
#define PHX_WRITE_BATCH 64

/* Bytes taken from the port in one read(2). */
#define PHX_CHANNEL_READ_CHUNK ((gsize) 64 * 1024)

/* Queued reply bytes above which the agent stops reading requests until the host
 * drains its replies: a host that never reads cannot make the agent grow without bound. */
#define PHX_OUTPUT_HIGH_WATER ((gsize) 128 * 1024 * 1024)

/* Line buffers larger than this are released after use instead of kept for the next line. */
#define PHX_LINEBUF_KEEP ((gsize) 64 * 1024)

/* directory-list: entries returned at most, whatever `n` says. */
#define PHX_DIRLIST_MAX 1000000

/* Listen backlog for unix-listen: one client is served, a few may wait. */
#define PHX_LISTEN_BACKLOG 4

/* Heap churn (bytes of requests and replies, plus a per-request allowance) after which an
 * idle agent hands freed heap pages back with malloc_trim(). */
#define PHX_TRIM_AFTER ((gsize) 256 * 1024)
#define PHX_TRIM_JOB_COST 512

/* Log lines kept in memory while frozen; older ones are dropped (and counted). */
#define PHX_LOG_HELD_MAX 512

/* Default seconds after which a freeze nobody lifted is lifted by the agent (0 = never). */
#define PHX_FREEZE_TIMEOUT_DEFAULT 600

/* Seconds an --fsfreeze-hook invocation may take. */
#define PHX_FREEZE_HOOK_TIMEOUT 60

/* At exit, how long the last replies may take to leave the port. */
#define PHX_EXIT_LINGER_MS 1000

/* Character devices: how long after a request read while the port still reported HUP the
 * host's arrival may be confirmed (see on_port_event in phx-channel.c). */
#define PHX_CONNECT_SETTLE_US ((gint64) 1000 * 1000)

/* ---- D-Bus state (phx-dbus.c) ---- */

/* CommandsServed, CommandsFailed, LastCommand and OpenHandles change with every request;
 * they are published on the bus at most once per this many milliseconds (the first change
 * after a quiet interval at once), so a busy port costs a few bus messages a second, not one
 * per request. */
#define PHX_DBUS_PUBLISH_MS 250
