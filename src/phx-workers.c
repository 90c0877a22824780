/* phx-workers.c — runs GTasks on threads of three fixed pools instead of GLib's shared one.
 * GLib's pool grows with a back-off when its threads block, so sixty reads waiting on silent
 * pipes delayed an unrelated file-stat by 11 s, and a large line's parse waited behind them
 * too. Here blocking work has a pool of its own (PHX_WORKERS_LONG), quick work another
 * (PHX_WORKERS_SHORT) and parsing a thread of its own. Each task ends with g_task_return_*,
 * which brings its callback back to the main loop as usual. Threads are made on demand and
 * leave after idling (GThreadPool's default), so an idle agent holds none. */
#define G_LOG_DOMAIN "phx-workers"

#include "phx-limits.h"
#include "phx-workers.h"

typedef struct {
        GTask *task;
        GTaskThreadFunc func;
} Work;

static void
run_work (gpointer data, gpointer user_data)
{
        Work *work = data;
        GTask *task = work->task;

        work->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
                    g_task_get_cancellable (task));
        g_object_unref (task);
        g_free (work);
}

static GThreadPool *
pool_get (PhxPool pool)
{
        static GThreadPool *pools[PHX_N_POOLS];
        static const int sizes[PHX_N_POOLS] = { PHX_WORKERS_SHORT, PHX_WORKERS_LONG, 1 };
        static gsize once;

        if (g_once_init_enter (&once)) {
                for (guint i = 0; i < PHX_N_POOLS; i++)
                        pools[i] = g_thread_pool_new (run_work, NULL, sizes[i], FALSE, NULL);
                g_once_init_leave (&once, 1);
        }
        return pools[pool];
}

/* func must complete the task (g_task_return_*). */
void
phx_workers_run (PhxPool pool, GTask *task, GTaskThreadFunc func)
{
        Work *work = g_new (Work, 1);

        work->task = g_object_ref (task);
        work->func = func;
        g_thread_pool_push (pool_get (pool), work, NULL);
}
