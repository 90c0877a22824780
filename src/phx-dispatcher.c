/* phx-dispatcher.c — from request line to reply. Per connection, lines are prepared in
 * arrival order (phx-intake.c: a large one parsed in a worker while those behind it wait);
 * each invocation then passes the freeze gate and its family's admit step, waits its turn
 * in the lane the family chose (one handle, or the freeze lane), waits for room in the
 * memory budget if it will make a large reply, runs inline or as a GTask in a worker pool,
 * goes through its family's finish step and is answered. When a host leaves, what it asked
 * for is cancelled. The dispatcher knows no command, no handle and no wire format; it calls
 * down into families, invocations and connections, and reports up with "command-finished". */
#define G_LOG_DOMAIN "phx-dispatcher"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <malloc.h>

#include "phx-dispatcher.h"
#include "phx-error.h"
#include "phx-intake.h"
#include "phx-invocation.h"
#include "phx-limits.h"
#include "phx-log.h"
#include "phx-qga.h"
#include "phx-reply-ledger.h"
#include "phx-workers.h"

struct _PhxDispatcher {
        GObject parent_instance;
        PhxRegistry *registry;
        GHashTable *families; /* GType -> PhxFamily* */
        PhxFreezeState *freezer;  /* its gate: frozen, or a freeze admitted */
        PhxBudget *budget;
        GQueue held;          /* PhxInvocation* whose reply does not fit the budget yet */
        guint making_replies; /* running commands that charged a reply estimate */
        GQueue ready;         /* lanes' next calls, started one after another (lane_advance) */
        gboolean starting_ready;
        guint unanswered;
        gsize trim_debt;      /* heap churn since the last malloc_trim() */
};

enum { SIGNAL_COMMAND_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxDispatcher, phx_dispatcher, G_TYPE_OBJECT)

/* What the dispatcher keeps per connection (as the connection's qdata). */
typedef struct {
        PhxDispatcher *self;
        PhxIntake *intake;  /* its lines, prepared in arrival order */
        GQueue unanswered;  /* every invocation of this connection not answered yet */
        PhxReplyLedger *replies; /* qemu-ga's reply order, the client's share of large replies */
} ConnState;

static GQuark conn_quark;

static void admit (PhxDispatcher *self, PhxInvocation *inv);
static void start (PhxDispatcher *self, PhxInvocation *inv);
static void complete (PhxDispatcher *self, PhxInvocation *inv);
static void run (PhxDispatcher *self, PhxInvocation *inv);
static void charge_reply (PhxDispatcher *self, PhxInvocation *inv, gsize estimate);
static void unpark (PhxDispatcher *self, ConnState *cs);
static void resume_held (PhxDispatcher *self);
static gboolean reply_fits (PhxDispatcher *self, gsize estimate);

static ConnState *
conn_state (PhxConnection *conn)
{
        return conn != NULL ? g_object_get_qdata (G_OBJECT (conn), conn_quark) : NULL;
}

static PhxFamilyClass *
family_class (PhxInvocation *inv)
{
        return inv->call.family != NULL ? PHX_FAMILY_GET_CLASS (inv->call.family) : NULL;
}

static PhxInvocation *
invocation_new (PhxDispatcher *self, PhxConnection *conn, GTask *internal, gsize cost)
{
        PhxInvocation *inv = phx_invocation_new (conn, internal);
        ConnState *cs = conn_state (conn);

        inv->cost = cost + PHX_CALL_OVERHEAD;
        phx_budget_charge (self->budget, inv->cost);
        self->unanswered++;
        if (cs != NULL) {
                g_queue_push_tail_link (&cs->unanswered, &inv->link);
                phx_connection_hold (conn);
        }
        return inv;
}

/* Once parsed, a request holds only its arguments (a file-write's decoded data is 3/4 of
 * its line; unknown members are gone): the budget follows. */
static void
recost (PhxDispatcher *self, PhxInvocation *inv, gsize held)
{
        gsize cost = held + PHX_CALL_OVERHEAD;

        if (cost < inv->cost)
                phx_budget_release (self->budget, inv->cost - cost);
        else
                phx_budget_charge (self->budget, cost - inv->cost);
        inv->cost = cost;
}

static void
maybe_trim (PhxDispatcher *self)
{
        /* A burst (or one large transfer) leaves freed heap pages behind. Once every
         * request is answered and every reply written, they go back to the kernel. */
        if (self->trim_debt < PHX_TRIM_AFTER || self->unanswered > 0 || phx_budget_get_used (self->budget) > 0)
                return;
        self->trim_debt = 0;
        malloc_trim (0);
}

/* The next call of a lane starts from a loop, not from inside the one that finished: a lane
 * of 300,000 reads refused one by one after their handle closed would otherwise recurse
 * 300,000 deep (start -> complete -> next start ...) and overflow the stack. */
static void
lane_advance (PhxDispatcher *self, PhxLane *lane)
{
        PhxInvocation *next = g_queue_pop_head (&lane->pending);

        if (next == NULL) {
                lane->busy = FALSE;
                return;
        }
        g_queue_push_tail (&self->ready, next);
        if (self->starting_ready)
                return;
        self->starting_ready = TRUE;
        while ((next = g_queue_pop_head (&self->ready)) != NULL)
                start (self, next);
        self->starting_ready = FALSE;
}

static gboolean
is_order_head (PhxInvocation *inv)
{
        ConnState *cs = conn_state (inv->call.connection);

        return cs != NULL && phx_reply_ledger_is_next (cs->replies, inv->order_slot);
}

/* Sends what is ready at the head of qemu-ga's order (phx-reply-ledger.c); a head that has
 * not completed yet but waits for budget runs now, whatever the budget says: the replies
 * behind it hold budget that only its reply frees (bounded: one such command per
 * connection). */
static void
order_flush (PhxDispatcher *self, ConnState *cs, PhxConnection *conn)
{
        PhxInvocation *head = NULL;

        phx_budget_release (self->budget, phx_reply_ledger_send_ready (cs->replies, conn, (gpointer *) &head));
        if (head != NULL && head->held) {
                gsize estimate = head->call.command->reply_estimate (head->call.args);

                g_queue_remove (&self->held, head);
                head->held = FALSE;
                charge_reply (self, head, estimate);
                run (self, head);
        }
}

/* The reply, now or in its turn. */
static void
answer (PhxDispatcher *self, ConnState *cs, PhxInvocation *inv)
{
        PhxReplySlot *slot = g_steal_pointer (&inv->order_slot);

        if (inv->discarded)
                return;
        if (slot == NULL) {
                phx_invocation_deliver (inv);
                return;
        }
        phx_budget_charge (self->budget, phx_reply_ledger_fill (cs->replies, slot, phx_invocation_steal_reply (inv)));
        order_flush (self, cs, inv->call.connection);
}

/* A command that takes its connection (login): its reply is queued; the connection becomes
 * the command's stream, or, if it failed, reads requests again. */
static void
hand_over (PhxInvocation *inv, gboolean ok)
{
        PhxConnection *conn = inv->call.connection;
        PhxHandover handover = inv->call.handover;

        if (!ok || handover == NULL) {
                phx_connection_give_back_input (conn);
                return;
        }
        phx_connection_begin_stream (conn);
        inv->call.handover = NULL;
        handover (g_steal_pointer (&inv->call.handover_data), conn);
}

static void
complete (PhxDispatcher *self, PhxInvocation *inv)
{
        PhxFamilyClass *klass = family_class (inv);
        ConnState *cs = conn_state (inv->call.connection);
        PhxLane *lane = inv->started ? inv->call.lane : NULL;
        gboolean ok;

        if (inv->admitted && klass->finish != NULL)
                klass->finish (inv->call.family, &inv->call, &inv->result, &inv->error);
        ok = inv->error == NULL;
        if (inv->discarded) {
                if (phx_debug_enabled ())
                        g_debug ("%s [tag '%s'] not taken: the agent is on its way out",
                                 phx_invocation_get_name (inv), inv->prepared.tag != NULL ? inv->prepared.tag : "");
        } else if (!ok) {
                /* names, tags and messages carry what the host sent: escaped, a newline in
                 * them cannot start a log line of its own */
                g_autofree char *name = g_strescape (phx_invocation_get_name (inv), NULL);
                g_autofree char *tag = g_strescape (inv->prepared.tag != NULL ? inv->prepared.tag : "", NULL);
                g_autofree char *message = g_strescape (inv->error->message, NULL);
                g_info (_("%s [tag '%s'] failed: %s"), name, tag, message);
        }
        else if (phx_debug_enabled ())
                g_debug ("%s [tag '%s'] ok", phx_invocation_get_name (inv), inv->prepared.tag);
        answer (self, cs, inv);
        if (inv->took_input)
                hand_over (inv, ok);
        if (!inv->discarded)
                g_signal_emit (self, signals[SIGNAL_COMMAND_FINISHED], 0, (guint) ok, inv->prepared.name);

        phx_budget_release (self->budget, inv->cost + inv->reply_charge);
        if (inv->reply_charge > 0)
                self->making_replies--;
        if (inv->reply_charge > 0 && cs != NULL) {
                phx_reply_ledger_sub_running (cs->replies, inv->reply_charge);
                unpark (self, cs);
        }
        self->trim_debt += inv->cost + phx_invocation_reply_size (inv);
        self->unanswered--;
        if (cs != NULL) {
                g_queue_unlink (&cs->unanswered, &inv->link);
                phx_connection_release (inv->call.connection);
        }
        /* The lane may belong to what the invocation holds (a handle): advance it first. */
        if (lane != NULL)
                lane_advance (self, lane);
        phx_invocation_free (inv);
        resume_held (self);
        maybe_trim (self);
}

static void
job_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        PhxInvocation *inv = task_data;

        inv->result = inv->call.command->func (&inv->call, &inv->error);
        /* A large reply (file-read's base64) is encoded here, not on the main loop. */
        if (inv->call.payload != NULL)
                phx_invocation_encode (inv);
        g_task_return_boolean (task, TRUE);
}

static void
job_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
        PhxInvocation *inv = g_task_get_task_data (G_TASK (res));

        complete (PHX_DISPATCHER (source), inv);
}

static void
run (PhxDispatcher *self, PhxInvocation *inv)
{
        const PhxCommand *command = inv->call.command;
        g_autoptr(GTask) task = NULL;

        if (!(command->flags & PHX_CMD_THREADED)) {
                inv->result = command->func (&inv->call, &inv->error);
                complete (self, inv);
                return;
        }
        task = g_task_new (self, NULL, job_done, NULL);
        g_task_set_source_tag (task, run);
        g_task_set_task_data (task, inv, NULL);
        phx_workers_run (command->flags & PHX_CMD_LONG ? PHX_POOL_LONG : PHX_POOL_SHORT, task, job_thread);
}

static void
charge_reply (PhxDispatcher *self, PhxInvocation *inv, gsize estimate)
{
        ConnState *cs = conn_state (inv->call.connection);

        inv->reply_charge = estimate;
        self->making_replies++;
        phx_budget_charge (self->budget, estimate);
        if (cs != NULL)
                phx_reply_ledger_add_running (cs->replies, estimate);
}

/* Room for its reply (its client's share, then the budget), then run. */
static void
proceed (PhxDispatcher *self, PhxInvocation *inv)
{
        const PhxCommand *command = inv->call.command;
        gsize estimate = command->reply_estimate != NULL ? command->reply_estimate (inv->call.args) : 0;
        ConnState *cs = conn_state (inv->call.connection);

        /* a listening client's share first (phx-reply-ledger.c) */
        if (estimate > 0 && inv->reply_charge == 0 && cs != NULL &&
            phx_reply_ledger_over_share (cs->replies, inv->call.connection, estimate)) {
                phx_reply_ledger_park (cs->replies, inv);
                inv->parked = TRUE;
                return;
        }
        if (estimate > 0 && inv->reply_charge == 0) {
                if (!reply_fits (self, estimate) && !is_order_head (inv)) {
                        /* Held with its lane still taken, so the handle's order is kept. */
                        g_queue_push_tail (&self->held, inv);
                        inv->held = TRUE;
                        return;
                }
                charge_reply (self, inv, estimate);
        }
        run (self, inv);
}

/* Its lane (if any) has let it through: last family check, then on. */
static void
start (PhxDispatcher *self, PhxInvocation *inv)
{
        PhxFamilyClass *klass = family_class (inv);

        inv->started = TRUE;
        if (klass->start != NULL && !klass->start (inv->call.family, &inv->call, &inv->error)) {
                complete (self, inv);
                return;
        }
        proceed (self, inv);
}

/* Its client read (or left): its parked large commands go on while within its share. */
static void
unpark (PhxDispatcher *self, ConnState *cs)
{
        PhxInvocation *inv;

        while ((inv = phx_reply_ledger_peek_parked (cs->replies)) != NULL) {
                gsize estimate = inv->call.command->reply_estimate (inv->call.args);

                if (phx_reply_ledger_over_share (cs->replies, inv->call.connection, estimate))
                        break;
                phx_reply_ledger_pop_parked (cs->replies);
                inv->parked = FALSE;
                proceed (self, inv);
        }
}

/* Main thread, in arrival order: gate, family admission, lane. */
static void
admit (PhxDispatcher *self, PhxInvocation *inv)
{
        PhxFamilyClass *klass;
        PhxLane *lane;
        ConnState *cs = conn_state (inv->call.connection);

        /* admission is in arrival order: so is the qemu-ga reply order */
        if (cs != NULL && inv->prepared.dialect == PHX_DIALECT_QGA)
                inv->order_slot = phx_reply_ledger_queue (cs->replies, inv);
        if (inv->error == NULL && (inv->call.command->flags & PHX_CMD_TAKES_CONNECTION) && !inv->took_input)
                phx_error_set (&inv->error, EBUSY, "%s must be the only request in flight on its connection%s",
                               phx_invocation_get_name (inv), cs != NULL ? "" : " (a host's)");
        if (inv->error != NULL) {
                complete (self, inv);
                return;
        }
        recost (self, inv, phx_args_size (inv->call.args));
        klass = family_class (inv);
        /* Closed from the moment a freeze is admitted, not only once it is done: requests
         * behind an fs-freeze must not reach the disks it is about to freeze. */
        if (!(inv->call.command->flags & PHX_CMD_FROZEN_OK) && phx_freeze_state_get_gate_closed (self->freezer)) {
                /* qemu-ga's clients match its words and class (CommandNotFound) */
                if (inv->prepared.dialect == PHX_DIALECT_QGA)
                        g_set_error (&inv->error, PHX_QGA_ERROR, PHX_QGA_ERROR_COMMAND_NOT_FOUND,
                                     "Command %s has been disabled: the agent is in frozen state",
                                     phx_invocation_get_name (inv));
                else
                        phx_error_set (&inv->error, PHX_ERROR_GENERIC,
                                       "%s is not allowed while the guest filesystems are frozen",
                                       phx_invocation_get_name (inv));
                complete (self, inv);
                return;
        }
        if (inv->call.command->flags & PHX_CMD_THREADED) {
                inv->call.cancellable = g_cancellable_new ();
                if (inv->call.connection != NULL && phx_connection_is_closed (inv->call.connection))
                        g_cancellable_cancel (inv->call.cancellable);
        }
        if (klass->admit != NULL && !klass->admit (inv->call.family, &inv->call, &inv->error)) {
                complete (self, inv);
                return;
        }
        inv->admitted = TRUE;
        lane = inv->call.lane;
        if (lane != NULL && lane->busy) {
                g_queue_push_tail (&lane->pending, inv);
                return;
        }
        if (lane != NULL)
                lane->busy = TRUE;
        start (self, inv);
}

/* Room for a command's reply: it fits the budget, or nothing else is making a large reply
 * and the budget is not exhausted (so one command larger than the budget still runs, alone,
 * and the agent's peak stays within the budget plus one such reply). */
static gboolean
reply_fits (PhxDispatcher *self, gsize estimate)
{
        return phx_budget_fits (self->budget, estimate) ||
               (self->making_replies == 0 && !phx_budget_get_exhausted (self->budget));
}

/* Commands held for room in the budget go on, in order, as room appears: when the budget
 * leaves exhaustion, a request is answered, or a connection's replies are all written. */
static void
resume_held (PhxDispatcher *self)
{
        PhxInvocation *inv;

        while ((inv = g_queue_peek_head (&self->held)) != NULL) {
                gsize estimate = inv->call.command->reply_estimate (inv->call.args);

                if (!reply_fits (self, estimate))
                        break;
                g_queue_pop_head (&self->held);
                inv->held = FALSE;
                charge_reply (self, inv, estimate);
                run (self, inv);
        }
}

static void
on_budget (PhxBudget *budget, GParamSpec *pspec, gpointer user_data)
{
        resume_held (user_data);
}

/* Prepared, in arrival order. A request that takes the connection (login) stops the reading
 * right here, before the bytes behind it are taken for requests: they may be its stream's.
 * Only when it was prepared within the read (the bytes behind it not taken yet) and nothing
 * else of this host's is owed (admit refuses it otherwise). */
static void
on_prepared (PhxInvocation *inv, gboolean now, gpointer user_data)
{
        ConnState *cs = user_data;

        /* a line read before agent-shutdown but prepared after it (behind a large one parsed
         * in a worker) is not taken either */
        if (phx_connection_is_deaf (inv->call.connection)) {
                inv->discarded = TRUE;
                complete (cs->self, inv);
                return;
        }
        if (now && inv->prepared.entry != NULL &&
            (inv->prepared.entry->command->flags & PHX_CMD_TAKES_CONNECTION) &&
            g_queue_get_length (&cs->unanswered) == 1) {
                phx_connection_take_input (inv->call.connection);
                inv->took_input = TRUE;
        }
        admit (cs->self, inv);
}

/* line's data is NUL-terminated just past its end (see PhxFrameFunc). */
static void
on_line (PhxConnection *conn, GBytes *line, gpointer user_data)
{
        ConnState *cs = user_data;

        phx_intake_line (cs->intake, invocation_new (cs->self, conn, NULL, g_bytes_get_size (line)), line);
}

static void
on_overlong (PhxConnection *conn, guint64 limit, gpointer user_data)
{
        ConnState *cs = user_data;
        PhxInvocation *inv = invocation_new (cs->self, conn, NULL, 0);

        inv->prepared.tag = g_strdup ("");
        phx_error_set (&inv->error, PHX_ERROR_GENERIC,
                       "request too long: the limit is %" G_GUINT64_FORMAT " bytes", limit);
        phx_intake_failed (cs->intake, inv);
}

/* The host left: whatever it asked for is cancelled — waits on pipes and devices end, loops
 * stop; quick work with effects (a write to a regular file) still completes. Replies have
 * nowhere to go. */
static void
on_closed (PhxConnection *conn, gpointer user_data)
{
        ConnState *cs = user_data;

        for (GList *l = cs->unanswered.head; l != NULL; l = l->next) {
                PhxInvocation *inv = l->data;
                if (inv->call.cancellable != NULL)
                        g_cancellable_cancel (inv->call.cancellable);
        }
        /* nobody will read: what is parked goes on, cancelled, and ends */
        phx_reply_ledger_set_closed (cs->replies);
        unpark (cs->self, cs);
}

static void
on_drained (PhxConnection *conn, gpointer user_data)
{
        ConnState *cs = user_data;

        unpark (cs->self, cs);
        resume_held (cs->self);
        maybe_trim (cs->self);
}

static void
conn_state_free (gpointer data)
{
        ConnState *cs = data;

        /* Every invocation holds its connection: none is left when this runs. */
        g_warn_if_fail (phx_intake_is_empty (cs->intake) && g_queue_is_empty (&cs->unanswered));
        phx_intake_free (cs->intake);
        phx_reply_ledger_free (cs->replies);
        g_free (cs);
}

void
phx_dispatcher_add_connection (PhxDispatcher *self, PhxConnection *connection)
{
        ConnState *cs = g_new0 (ConnState, 1);

        cs->self = self;
        cs->replies = phx_reply_ledger_new ();
        cs->intake = phx_intake_new (G_OBJECT (self), self->registry, self->families, on_prepared, cs);
        g_object_set_qdata_full (G_OBJECT (connection), conn_quark, cs, conn_state_free);
        g_signal_connect (connection, "line", G_CALLBACK (on_line), cs);
        g_signal_connect (connection, "overlong", G_CALLBACK (on_overlong), cs);
        g_signal_connect (connection, "closed", G_CALLBACK (on_closed), cs);
        g_signal_connect (connection, "drained", G_CALLBACK (on_drained), cs);
}

/* The agent's own call of a command (a thaw from D-Bus, the auto-thaw timer, shutdown): it
 * takes the same path as a host's — gate, family, lane — and completes the task instead of
 * writing a reply. Not subject to allow/block lists: they restrict hosts, not the agent. */
void
phx_dispatcher_call (PhxDispatcher *self, const char *name, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
        g_autoptr(JsonObject) none = json_object_new ();
        const PhxEntry *entry = phx_registry_lookup (self->registry, PHX_DIALECT_PHOENIX, name);
        PhxInvocation *inv;

        g_task_set_source_tag (task, phx_dispatcher_call);
        g_return_if_fail (entry != NULL);
        inv = invocation_new (self, NULL, task, 0);
        inv->prepared.tag = g_strdup ("");
        inv->prepared.name = g_strdup (name);
        inv->prepared.entry = entry;
        inv->call.command = entry->command;
        inv->call.args = phx_args_validate (entry->args, none, &inv->error);
        inv->call.family = g_hash_table_lookup (self->families, GSIZE_TO_POINTER (entry->family));
        admit (self, inv);
}

JsonNode *
phx_dispatcher_call_finish (PhxDispatcher *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), NULL);
        return g_task_propagate_pointer (G_TASK (result), error);
}

guint
phx_dispatcher_get_unanswered (PhxDispatcher *self)
{
        return self->unanswered;
}

PhxDispatcher *
phx_dispatcher_new (PhxRegistry *registry, GPtrArray *families, PhxFreezeState *freezer, PhxBudget *budget)
{
        PhxDispatcher *self = g_object_new (PHX_TYPE_DISPATCHER, NULL);

        self->registry = g_object_ref (registry);
        self->freezer = g_object_ref (freezer);
        self->budget = g_object_ref (budget);
        for (guint i = 0; i < families->len; i++) {
                PhxFamily *family = g_ptr_array_index (families, i);
                g_hash_table_insert (self->families, GSIZE_TO_POINTER (G_OBJECT_TYPE (family)),
                                     g_object_ref (family));
        }
        g_signal_connect_object (budget, "notify::exhausted", G_CALLBACK (on_budget), self, 0);
        return self;
}

static void
phx_dispatcher_dispose (GObject *object)
{
        PhxDispatcher *self = PHX_DISPATCHER (object);

        g_clear_object (&self->registry);
        g_clear_object (&self->freezer);
        g_clear_object (&self->budget);
        g_hash_table_remove_all (self->families);
        G_OBJECT_CLASS (phx_dispatcher_parent_class)->dispose (object);
}

static void
phx_dispatcher_finalize (GObject *object)
{
        PhxDispatcher *self = PHX_DISPATCHER (object);

        g_hash_table_unref (self->families);
        G_OBJECT_CLASS (phx_dispatcher_parent_class)->finalize (object);
}

static void
phx_dispatcher_class_init (PhxDispatcherClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->dispose = phx_dispatcher_dispose;
        object_class->finalize = phx_dispatcher_finalize;
        conn_quark = g_quark_from_static_string ("phx-dispatcher-connection");
        /* A request was answered (or, for the agent's own calls, completed): (ok, name), the
         * name a const char * valid during the emission. Once per request: a stock
         * marshaller, since the generic one (libffi) cost more than the rest of a ping's
         * bookkeeping. */
        signals[SIGNAL_COMMAND_FINISHED] = g_signal_new ("command-finished", G_TYPE_FROM_CLASS (klass),
                                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                                         g_cclosure_marshal_VOID__UINT_POINTER, G_TYPE_NONE, 2,
                                                         G_TYPE_UINT, G_TYPE_POINTER);
        g_signal_set_va_marshaller (signals[SIGNAL_COMMAND_FINISHED], G_TYPE_FROM_CLASS (klass),
                                    g_cclosure_marshal_VOID__UINT_POINTERv);
}

static void
phx_dispatcher_init (PhxDispatcher *self)
{
        self->families = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
}
