/* phx-intake.c — one connection's requests, prepared in arrival order. A line is parsed and
 * checked against the registry at once, unless it is large (PHX_REQUEST_OFFLOAD_MIN: a
 * file-write's base64): that one is parsed in a worker, so that the main loop keeps serving
 * everyone else, and the lines of the same connection behind it wait for it, so that its
 * requests still reach the dispatcher's admission, and qemu-ga's reply order, in the order
 * they were sent. A request that failed before it could be parsed (a line past the limit)
 * waits its turn the same way.
 *
 * The dispatcher owns one per connection and is told through its PhxIntakeFunc; the intake
 * calls nothing else above it. */
#define G_LOG_DOMAIN "phx-dispatcher"

#include "phx-intake.h"
#include "phx-limits.h"
#include "phx-workers.h"

struct _PhxIntake {
        GObject *owner;         /* kept alive by a parse in a worker (the dispatcher) */
        PhxRegistry *registry;  /* the owner's */
        GHashTable *families;   /* the owner's: GType -> PhxFamily* */
        PhxIntakeFunc func;
        gpointer user_data;
        GQueue waiting;         /* PhxInvocation* behind a line being parsed, in arrival order */
        gboolean parsing;
};

PhxIntake *
phx_intake_new (GObject *owner, PhxRegistry *registry, GHashTable *families, PhxIntakeFunc func,
                gpointer user_data)
{
        PhxIntake *self = g_new0 (PhxIntake, 1);

        self->owner = owner;
        self->registry = registry;
        self->families = families;
        self->func = func;
        self->user_data = user_data;
        return self;
}

void
phx_intake_free (PhxIntake *self)
{
        g_free (self);
}

gboolean
phx_intake_is_empty (PhxIntake *self)
{
        return g_queue_is_empty (&self->waiting) && !self->parsing;
}

/* The parsed request becomes what the family and the command see. Any thread. */
static void
prepare (PhxRegistry *registry, GHashTable *families, PhxInvocation *inv, const char *line, gsize len)
{
        const PhxEntry *entry;

        if (!phx_registry_prepare (registry, line, len, &inv->prepared, &inv->error))
                return;
        entry = inv->prepared.entry;
        inv->call.command = entry->command;
        inv->call.args = g_steal_pointer (&inv->prepared.args);
        inv->call.dialect = inv->prepared.dialect;
        inv->call.family = g_hash_table_lookup (families, GSIZE_TO_POINTER (entry->family));
        g_assert (inv->call.family != NULL);
}

static void drain (PhxIntake *self);

/* What a worker needs (the head of `waiting` stays where it is meanwhile: the main thread
 * may add behind it, and never reads the queue from the worker). */
typedef struct {
        PhxIntake *intake;
        PhxInvocation *inv;
} Parse;

static void
parse_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        Parse *parse = task_data;
        PhxInvocation *inv = parse->inv;
        gsize len;
        const char *line = g_bytes_get_data (inv->line, &len);

        prepare (parse->intake->registry, parse->intake->families, inv, line, len);
        g_clear_pointer (&inv->line, g_bytes_unref);
        g_task_return_boolean (task, TRUE);
}

static void
parse_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
        PhxIntake *self = user_data;
        PhxInvocation *inv = g_queue_pop_head (&self->waiting);
        /* the request may be answered at once, and with it the last one that holds the
         * connection (and this intake, its owner's per-connection state) */
        g_autoptr(PhxConnection) conn = g_object_ref (inv->call.connection);

        self->parsing = FALSE;
        self->func (inv, FALSE, self->user_data);
        drain (self);
}

/* The head of `waiting` is parsed in a worker; those behind it wait. */
static void
offload (PhxIntake *self)
{
        g_autoptr(GTask) task = g_task_new (self->owner, NULL, parse_done, self);
        Parse *parse = g_new (Parse, 1);

        parse->intake = self;
        parse->inv = g_queue_peek_head (&self->waiting);
        self->parsing = TRUE;
        g_task_set_source_tag (task, offload);
        g_task_set_task_data (task, parse, g_free);
        phx_workers_run (PHX_POOL_PARSE, task, parse_thread);
}

/* Those that waited, in order, up to the next large one. */
static void
drain (PhxIntake *self)
{
        PhxInvocation *inv;

        while (!self->parsing && (inv = g_queue_peek_head (&self->waiting)) != NULL) {
                gsize len;
                const char *line;

                if (inv->line != NULL) {
                        line = g_bytes_get_data (inv->line, &len);
                        if (len >= PHX_REQUEST_OFFLOAD_MIN) {
                                offload (self);
                                return;
                        }
                        prepare (self->registry, self->families, inv, line, len);
                        g_clear_pointer (&inv->line, g_bytes_unref);
                }
                g_queue_pop_head (&self->waiting);
                self->func (inv, FALSE, self->user_data);
        }
}

/* line's data is NUL-terminated just past its end (see PhxFrameFunc). */
void
phx_intake_line (PhxIntake *self, PhxInvocation *inv, GBytes *line)
{
        gsize len = g_bytes_get_size (line);

        if (self->parsing || len >= PHX_REQUEST_OFFLOAD_MIN) {
                inv->line = g_bytes_ref (line);
                g_queue_push_tail (&self->waiting, inv);
                if (!self->parsing)
                        offload (self);
                return;
        }
        prepare (self->registry, self->families, inv, g_bytes_get_data (line, NULL), len);
        self->func (inv, TRUE, self->user_data);
}

/* A request that failed before it could be parsed (inv->error set): in its turn. */
void
phx_intake_failed (PhxIntake *self, PhxInvocation *inv)
{
        if (self->parsing) {
                g_queue_push_tail (&self->waiting, inv);
                return;
        }
        self->func (inv, TRUE, self->user_data);
}
