/* phx-dispatcher.c — turns request lines into replies. It parses (in a worker for large
 * lines, keeping arrival order), looks the command up, validates arguments, applies the
 * freeze gate, serializes calls on one handle, runs the command inline or as a GTask and
 * hands the encoded reply to the agent. It never touches the wire format beyond
 * phx-protocol's functions, nor the transport. */
#define G_LOG_DOMAIN "phx-dispatcher"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <malloc.h>

#include "phx-agent.h"
#include "phx-dispatcher.h"
#include "phx-error.h"
#include "phx-handles.h"
#include "phx-limits.h"
#include "phx-protocol.h"

struct _PhxDispatcher {
        GObject parent_instance;
        PhxAgent *agent;      /* owns us */
        GPtrArray *handlers;  /* PhxHandler*, one per family */
        GHashTable *commands; /* name -> const PhxCommand* (read-only after construction) */
        GHashTable *disabled; /* names turned off by allow/block lists (set before serving) */
        GPtrArray *names;     /* command names in registration order */
        GQueue intake;        /* Job* waiting behind a line parsed in a worker */
        gboolean intake_busy; /* a large line is being parsed in a worker */
        gsize inflight_bytes; /* request bytes accepted but not yet answered */
        guint running;        /* jobs handed to workers or waiting on a handle */
        guint current_gen;    /* the newest connection generation seen */
        guint current_jobs;   /* unanswered jobs of that generation */
        gsize trim_debt;      /* heap churn since the last malloc_trim() */
        PhxLane serial_lane;  /* PHX_CMD_SERIAL commands */
};

G_DEFINE_TYPE (PhxDispatcher, phx_dispatcher, G_TYPE_OBJECT)

typedef struct {
        PhxDispatcher *self;
        guint generation;
        GBytes *line;       /* only while the line waits to be parsed */
        gsize cost;         /* bytes counted in inflight_bytes */
        char *tag;
        char *name;
        const PhxCommand *command;
        PhxCall call;
        JsonNode *result;
        GError *error;
        GPtrArray *reply;   /* GBytes parts; encoded in the worker when possible */
        PhxLane *lane;      /* the lane it holds or waits in, if any */
} Job;

static void
job_free (Job *job)
{
        if (job->generation == job->self->current_gen)
                job->self->current_jobs--;
        g_clear_pointer (&job->line, g_bytes_unref);
        g_free (job->tag);
        g_free (job->name);
        g_clear_pointer (&job->call.args, phx_args_free);
        g_clear_pointer (&job->call.opened, phx_file_free);
        g_clear_pointer (&job->result, json_node_unref);
        g_clear_error (&job->error);
        g_clear_pointer (&job->reply, g_ptr_array_unref);
        g_clear_pointer (&job->call.payload, g_bytes_unref);
        if (job->call.apply_data != NULL && job->call.apply_data_free != NULL)
                job->call.apply_data_free (job->call.apply_data);
        g_free (job);
}

static Job *
job_new (PhxDispatcher *self, gsize cost, guint generation)
{
        Job *job = g_new0 (Job, 1);

        job->self = self;
        job->generation = generation;
        job->cost = cost;
        job->call.agent = self->agent;
        job->call.freezer = phx_agent_get_freezer (self->agent);
        self->inflight_bytes += cost;
        if (generation != self->current_gen) {
                self->current_gen = generation;
                self->current_jobs = 0;
        }
        self->current_jobs++;
        return job;
}

/* Parse + lookup + argument validation. Thread-safe: reads only the command table. */
static void
job_prepare (Job *job, const char *line, gsize len)
{
        g_autoptr(PhxRequest) req = phx_request_parse (line, len, &job->tag, &job->error);

        if (req == NULL)
                return;
        job->name = g_strdup (req->execute);
        job->command = g_hash_table_lookup (job->self->commands, req->execute);
        if (job->command == NULL) {
                phx_error_set (&job->error, PHX_ERROR_GENERIC, "Unknown command: %s", req->execute);
                return;
        }
        if (g_hash_table_contains (job->self->disabled, req->execute)) {
                phx_error_set (&job->error, PHX_ERROR_GENERIC, "Command %s is disabled", req->execute);
                job->command = NULL;
                return;
        }
        job->call.command = job->command;
        job->call.args = phx_args_validate (job->command->args, req->arguments, &job->error);
        if (job->call.args == NULL)
                g_prefix_error (&job->error, "%s: ", req->execute);
}

static void
job_encode (Job *job)
{
        if (job->reply != NULL)
                return;
        if (job->error == NULL && job->call.payload != NULL) {
                job->reply = phx_reply_encode_with_payload (g_steal_pointer (&job->result),
                                                            job->call.payload_member,
                                                            job->call.payload, job->tag);
                return;
        }
        job->reply = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
        if (job->error != NULL)
                g_ptr_array_add (job->reply, phx_reply_encode_error (job->error, job->tag));
        else
                g_ptr_array_add (job->reply, phx_reply_encode (g_steal_pointer (&job->result), job->tag));
}

/* A burst of requests (or one large transfer) leaves freed heap pages behind, in the
 * main arena and the workers'. Once the agent is idle again they go back to the kernel,
 * so a long-running agent stays at its start-up size. */
void
phx_dispatcher_maybe_trim (PhxDispatcher *self)
{
        if (self->trim_debt < PHX_TRIM_AFTER || self->running > 0 || self->intake_busy ||
            self->inflight_bytes > 0)
                return;
        self->trim_debt = 0;
        malloc_trim (0);
}

static gsize
job_reply_size (Job *job)
{
        gsize size = 0;

        for (guint i = 0; i < job->reply->len; i++)
                size += g_bytes_get_size (g_ptr_array_index (job->reply, i));
        return size;
}

static void job_run (Job *job);
static void job_run_later (gpointer job);
static void intake_drain (PhxDispatcher *self);

/* Main thread: the job is done (or failed before running); answer and account for it. */
static void
job_finish (Job *job)
{
        PhxDispatcher *self = job->self;
        PhxHandles *handles = phx_agent_get_handles (self->agent);
        PhxFile *file = job->call.file;

        if (job->call.opened != NULL && job->error == NULL) {
                gint64 id = phx_handles_insert (handles, g_steal_pointer (&job->call.opened), &job->error);
                if (id > 0)
                        job->result = json_node_init_int (json_node_alloc (), id);
                g_clear_pointer (&job->reply, g_ptr_array_unref);
                phx_agent_notify_handles (self->agent);
        }
        if (job->call.apply != NULL && job->error == NULL)
                job->call.apply (&job->call);
        job_encode (job);

        if (job->error != NULL)
                g_info (_("%s [tag '%s'] failed: %s"), job->name ? job->name : "(none)", job->tag,
                        job->error->message);
        else
                g_debug ("%s [tag '%s'] ok", job->name, job->tag);
        for (guint i = 0; i < job->reply->len; i++)
                phx_agent_send (self->agent, job->generation, g_ptr_array_index (job->reply, i));
        phx_agent_command_finished (self->agent, job->name, job->error == NULL);
        self->inflight_bytes -= job->cost;

        if (job->lane != NULL) {
                PhxLane *lane = job->lane;
                Job *next;

                lane->busy = FALSE;
                if (file != NULL && file->closed) {
                        /* Calls queued behind the one that closed the handle (file-close,
                         * or a read that hit end of file) find it gone, as if sent later. */
                        while ((next = g_queue_pop_head (&lane->pending)) != NULL) {
                                self->running--;
                                next->lane = NULL;
                                next->call.file = NULL;
                                phx_error_set (&next->error, EBADF, "%s: unknown handle %" G_GINT64_FORMAT,
                                               next->name, file->id);
                                job_finish (next);
                        }
                        phx_handles_remove (handles, file->id);
                        phx_agent_notify_handles (self->agent);
                } else if ((next = g_queue_pop_head (&lane->pending)) != NULL) {
                        self->running--;
                        lane->busy = TRUE;
                        /* An inline command would finish (and start the next) right here:
                         * run it from the loop instead, so a long lane cannot recurse. */
                        if (next->command->flags & PHX_CMD_THREADED)
                                job_run (next);
                        else
                                g_idle_add_once (job_run_later, next);
                }
        }
        self->trim_debt += job->cost + job_reply_size (job) + PHX_TRIM_JOB_COST;
        job_free (job);
        phx_dispatcher_maybe_trim (self);
        phx_agent_inflight_changed (self->agent);
}

static void
job_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        Job *job = task_data;

        job->result = job->command->func (&job->call, &job->error);
        /* Encoding a 64 MiB reply belongs here, not on the main loop. */
        if (job->call.opened == NULL && job->call.apply == NULL)
                job_encode (job);
}

static void
job_thread_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
        Job *job = g_task_get_task_data (G_TASK (res));

        g_task_set_task_data (G_TASK (res), NULL, NULL);
        job->self->running--;
        job_finish (job);
}

static void
job_run (Job *job)
{
        if (job->command->flags & PHX_CMD_THREADED) {
                g_autoptr(GTask) task = g_task_new (job->self, NULL, job_thread_done, NULL);
                g_task_set_task_data (task, job, NULL);
                g_task_set_source_tag (task, job_run);
                job->self->running++;
                g_task_run_in_thread (task, job_thread);
                return;
        }
        job->result = job->command->func (&job->call, &job->error);
        job_finish (job);
}

static void
job_run_later (gpointer job)
{
        job_run (job);
}

/* Main thread: a prepared job goes through the freeze gate and the handle queue. */
static void
job_dispatch (Job *job)
{
        PhxDispatcher *self = job->self;
        PhxFile *file;

        if (job->error != NULL) {
                job_finish (job);
                return;
        }
        if (phx_agent_get_frozen (self->agent) && !(job->command->flags & PHX_CMD_FROZEN_OK)) {
                phx_error_set (&job->error, PHX_ERROR_GENERIC,
                               "%s is not allowed while the guest filesystems are frozen", job->name);
                job_finish (job);
                return;
        }
        if (job->command->flags & PHX_CMD_HANDLE) {
                file = phx_handles_lookup (phx_agent_get_handles (self->agent),
                                           phx_args_get_int (job->call.args, "handle_id"), &job->error);
                if (file == NULL) {
                        g_prefix_error (&job->error, "%s: ", job->name);
                        job_finish (job);
                        return;
                }
                job->call.file = file;
                job->lane = &file->lane;
        } else if (job->command->flags & PHX_CMD_SERIAL) {
                job->lane = &self->serial_lane;
        }
        if (job->lane != NULL && job->lane->busy) {
                /* One at a time, in the order the host sent them. */
                self->running++;
                g_queue_push_tail (&job->lane->pending, job);
                return;
        }
        if (job->lane != NULL)
                job->lane->busy = TRUE;
        job_run (job);
}

static void
parse_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        Job *job = task_data;
        gsize len;
        const char *line = g_bytes_get_data (job->line, &len);

        job_prepare (job, line, len);
        g_clear_pointer (&job->line, g_bytes_unref);
}

static void
parse_thread_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
        PhxDispatcher *self = PHX_DISPATCHER (source);
        Job *job = g_task_get_task_data (G_TASK (res));

        g_task_set_task_data (G_TASK (res), NULL, NULL);
        self->intake_busy = FALSE;
        job_dispatch (job);
        intake_drain (self);
}

static void
parse_offload (PhxDispatcher *self, Job *job)
{
        g_autoptr(GTask) task = g_task_new (self, NULL, parse_thread_done, NULL);

        self->intake_busy = TRUE;
        g_task_set_task_data (task, job, NULL);
        g_task_set_source_tag (task, parse_offload);
        g_task_run_in_thread (task, parse_thread);
}

/* Lines that arrived while a large one was parsed, in order; stops at the next large one. */
static void
intake_drain (PhxDispatcher *self)
{
        Job *job;

        while (!self->intake_busy && (job = g_queue_pop_head (&self->intake)) != NULL) {
                gsize len;
                const char *line = g_bytes_get_data (job->line, &len);

                if (len >= PHX_REQUEST_OFFLOAD_MIN) {
                        parse_offload (self, job);
                        return;
                }
                job_prepare (job, line, len);
                g_clear_pointer (&job->line, g_bytes_unref);
                job_dispatch (job);
        }
}

/* line's data is NUL-terminated just past its end (see PhxFrameFunc). */
void
phx_dispatcher_feed (PhxDispatcher *self, GBytes *line, guint generation)
{
        gsize len = g_bytes_get_size (line);
        Job *job = job_new (self, len, generation);

        if (self->intake_busy || len >= PHX_REQUEST_OFFLOAD_MIN) {
                job->line = g_bytes_ref (line);
                if (self->intake_busy)
                        g_queue_push_tail (&self->intake, job);
                else
                        parse_offload (self, job);
                phx_agent_inflight_changed (self->agent);
                return;
        }
        job_prepare (job, g_bytes_get_data (line, NULL), len);
        job_dispatch (job);
}

void
phx_dispatcher_feed_overlong (PhxDispatcher *self, guint generation)
{
        Job *job = job_new (self, 0, generation);

        /* Answered in line with its neighbours: it still counts as one request. */
        job->tag = g_strdup ("");
        phx_error_set (&job->error, PHX_ERROR_GENERIC,
                       "request too long: the limit is %" G_GSIZE_FORMAT " bytes", PHX_REQUEST_MAX);
        if (self->intake_busy) {
                g_queue_push_tail (&self->intake, job);
                return;
        }
        job_finish (job);
}

/* Turns commands off: with an allow list every command not on it (ping and get-commands
 * always stay), then every command on the block list. Disabled commands answer an error and
 * are left out of get-commands. Called once, before the agent serves. */
gboolean
phx_dispatcher_set_enabled (PhxDispatcher *self, const char *const *allow, const char *const *block,
                            GError **error)
{
        if (!phx_handler_check_command_list (allow, FALSE, error)) {
                g_prefix_error (error, "allow-commands: ");
                return FALSE;
        }
        if (!phx_handler_check_command_list (block, TRUE, error)) {
                g_prefix_error (error, "block-commands: ");
                return FALSE;
        }
        g_hash_table_remove_all (self->disabled);
        for (guint i = 0; i < self->names->len; i++) {
                const char *name = g_ptr_array_index (self->names, i);
                gboolean off = (allow != NULL && !g_strv_contains (allow, name) &&
                                !phx_handler_command_essential (name)) ||
                               (block != NULL && g_strv_contains (block, name));

                if (off)
                        g_hash_table_add (self->disabled, (gpointer) name);
        }
        return TRUE;
}

GPtrArray *
phx_dispatcher_list_commands (PhxDispatcher *self)
{
        GPtrArray *enabled = g_ptr_array_sized_new (self->names->len);

        for (guint i = 0; i < self->names->len; i++) {
                if (!g_hash_table_contains (self->disabled, g_ptr_array_index (self->names, i)))
                        g_ptr_array_add (enabled, g_ptr_array_index (self->names, i));
        }
        return enabled;
}

gsize
phx_dispatcher_get_inflight_bytes (PhxDispatcher *self)
{
        return self->inflight_bytes;
}

guint
phx_dispatcher_get_running (PhxDispatcher *self)
{
        return self->running;
}

/* Jobs of connection `generation` not answered yet. */
guint
phx_dispatcher_get_unanswered (PhxDispatcher *self, guint generation)
{
        return generation == self->current_gen ? self->current_jobs : 0;
}

static void
phx_dispatcher_finalize (GObject *object)
{
        PhxDispatcher *self = PHX_DISPATCHER (object);

        g_queue_clear_full (&self->intake, (GDestroyNotify) job_free);
        g_queue_clear_full (&self->serial_lane.pending, (GDestroyNotify) job_free);
        g_ptr_array_unref (self->handlers);
        g_hash_table_unref (self->commands);
        g_hash_table_unref (self->disabled);
        g_ptr_array_unref (self->names);
        G_OBJECT_CLASS (phx_dispatcher_parent_class)->finalize (object);
}

static void
phx_dispatcher_class_init (PhxDispatcherClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = phx_dispatcher_finalize;
}

static void
phx_dispatcher_init (PhxDispatcher *self)
{
        g_autofree GType *types = NULL;
        guint n_types;

        self->handlers = g_ptr_array_new_with_free_func (g_object_unref);
        self->commands = g_hash_table_new (g_str_hash, g_str_equal);
        self->disabled = g_hash_table_new (g_str_hash, g_str_equal);
        self->names = g_ptr_array_new ();
        types = phx_handler_family_types (&n_types);
        for (guint i = 0; i < n_types; i++) {
                PhxHandler *handler = g_object_new (types[i], NULL);
                for (const PhxCommand *c = phx_handler_get_commands (handler); c->name != NULL; c++) {
                        if (g_hash_table_contains (self->commands, c->name))
                                g_error ("command %s registered twice", c->name);
                        g_hash_table_insert (self->commands, (gpointer) c->name, (gpointer) c);
                        g_ptr_array_add (self->names, (gpointer) c->name);
                }
                g_ptr_array_add (self->handlers, handler);
        }
}

PhxDispatcher *
phx_dispatcher_new (PhxAgent *agent)
{
        PhxDispatcher *self = g_object_new (PHX_TYPE_DISPATCHER, NULL);

        self->agent = agent;
        return self;
}
