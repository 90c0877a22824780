/* phx-workers.h — the agent's worker threads: GTasks run in pools of their own kind. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
        PHX_POOL_SHORT, /* commands that end by themselves (stat, chmod, open, freeze, ...) */
        PHX_POOL_LONG,  /* commands that may not (I/O on handles, hashing, listing) */
        PHX_POOL_PARSE, /* large request lines, one at a time */
        PHX_N_POOLS,
} PhxPool;

void phx_workers_run (PhxPool pool, GTask *task, GTaskThreadFunc func);

G_END_DECLS
