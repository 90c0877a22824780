/* phx-log.c — while the guest's filesystems are frozen, a log line written to the journal
 * or a file on a frozen disk would block the agent until the thaw it is supposed to serve.
 * So log output is held in a bounded ring in memory and written out after the thaw. This
 * is process-wide state because logging itself is process-wide. */
#define G_LOG_DOMAIN "phx-log"

#include "config.h"

#include <glib/gi18n.h>

#include "phx-log.h"
#include "phx-limits.h"

static GMutex lock;
static gboolean held;
static GQueue ring = G_QUEUE_INIT; /* char*, formatted lines */
static guint dropped;

static const char *
field_domain (const GLogField *fields, gsize n_fields)
{
        for (gsize i = 0; i < n_fields; i++) {
                if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
                        return fields[i].value;
        }
        return NULL;
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
        /* what would not be shown is not held either (debug lines while frozen) */
        if (g_log_writer_default_would_drop (level, field_domain (fields, n_fields)))
                return G_LOG_WRITER_HANDLED;
        g_mutex_lock (&lock);
        if (held) {
                /* formatted now, with the time it happened */
                char *line = g_log_writer_format_fields (level, fields, n_fields, FALSE);
                g_queue_push_tail (&ring, line);
                while (ring.length > PHX_LOG_HELD_MAX) {
                        g_free (g_queue_pop_head (&ring));
                        dropped++;
                }
                g_mutex_unlock (&lock);
                return G_LOG_WRITER_HANDLED;
        }
        g_mutex_unlock (&lock);
        return g_log_writer_default (level, fields, n_fields, user_data);
}

gboolean phx_log_debug_wanted = TRUE; /* until phx_log_install knows better */

void
phx_log_install (void)
{
        phx_log_debug_wanted = g_log_get_debug_enabled () || g_getenv ("G_MESSAGES_DEBUG") != NULL;
        g_log_set_writer_func (writer, NULL, NULL);
}

void
phx_log_set_held (gboolean hold)
{
        GQueue out = G_QUEUE_INIT;
        guint lost;
        char *line;

        g_mutex_lock (&lock);
        held = hold;
        if (!hold) {
                out = ring;
                g_queue_init (&ring);
        }
        lost = dropped;
        if (!hold)
                dropped = 0;
        g_mutex_unlock (&lock);

        if (hold)
                return;
        if (lost > 0)
                g_printerr (_("phoenix-ga: %u log lines from while frozen were dropped\n"), lost);
        while ((line = g_queue_pop_head (&out)) != NULL) {
                g_printerr ("%s\n", line);
                g_free (line);
        }
}

guint
phx_log_get_held_count (void)
{
        guint n;

        g_mutex_lock (&lock);
        n = ring.length;
        g_mutex_unlock (&lock);
        return n;
}
