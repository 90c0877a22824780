/* exec-process.c — PhxExecProcess: a command run for the host, through GSubprocess, in a
 * process group of its own (so a timeout or a kill reaches what it started), its output
 * captured into bounded buffers as it comes, its exit watched by the main loop.
 *
 * Why "finished" is not "exited": a command that starts a daemon (`sleep 100 &`) exits while
 * the daemon still holds its stdout open; waiting for EOF, as qemu-ga does, reports it
 * running for as long as the daemon lives. Here, once the process itself has exited, its
 * pipes get PHX_EXEC_PIPE_GRACE_MS more to reach EOF, then they are given up on. */
#define G_LOG_DOMAIN "exec-process"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>

#include "exec-process.h"
#include "phx-error.h"
#include "phx-limits.h"

typedef struct {
        GInputStream *pipe; /* NULL when not captured, or once at EOF */
        GByteArray *data;
        gboolean truncated;
} Capture;

struct _PhxExecProcess {
        GObject parent_instance;
        gint64 pid;
        GOutputStream *input; /* the child's stdin, while input-data is being written */
        PhxExecQuota *quota;
        gsize capture_max;
        GCancellable *cancellable; /* the reads and the stdin write; cancelled at the grace's end */
        Capture capture[PHX_EXEC_N_STREAMS];
        gboolean captures[PHX_EXEC_N_STREAMS];
        gboolean exited, finished, timed_out;
        int status; /* wait status */
        guint timeout_id, grace_id, child_watch_id;
};

enum { SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxExecProcess, phx_exec_process, G_TYPE_OBJECT)

static void
maybe_finish (PhxExecProcess *self)
{
        if (self->finished || !self->exited)
                return;
        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++) {
                if (self->capture[i].pipe != NULL)
                        return;
        }
        self->finished = TRUE;
        g_clear_handle_id (&self->grace_id, g_source_remove);
        g_clear_handle_id (&self->timeout_id, g_source_remove);
        g_debug ("pid %" G_GINT64_FORMAT ": finished", self->pid);
        g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

static void read_next (PhxExecProcess *self, PhxExecStream stream);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(PhxExecProcess) self = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
        PhxExecStream stream = self->capture[PHX_EXEC_OUT].pipe == G_INPUT_STREAM (source) ? PHX_EXEC_OUT
                                                                                           : PHX_EXEC_ERR;
        Capture *c = &self->capture[stream];
        gsize n;

        if (c->pipe != G_INPUT_STREAM (source))
                return; /* given up on already */
        if (bytes == NULL || g_bytes_get_size (bytes) == 0) {
                if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        g_debug ("pid %" G_GINT64_FORMAT ": read: %s", self->pid, error->message);
                g_clear_object (&c->pipe);
                maybe_finish (self);
                return;
        }
        n = g_bytes_get_size (bytes);
        /* what does not fit is read and dropped: the command must not block on a full pipe */
        if (c->data->len + n > self->capture_max || self->quota->used + n > self->quota->max) {
                gsize room = MIN (self->capture_max - MIN (c->data->len, self->capture_max),
                                  self->quota->max - MIN (self->quota->used, self->quota->max));
                n = MIN (n, room);
                c->truncated = TRUE;
        }
        g_byte_array_append (c->data, g_bytes_get_data (bytes, NULL), (guint) n);
        self->quota->used += n;
        read_next (self, stream);
}

static void
read_next (PhxExecProcess *self, PhxExecStream stream)
{
        g_input_stream_read_bytes_async (self->capture[stream].pipe, PHX_EXEC_READ_CHUNK, G_PRIORITY_DEFAULT,
                                         self->cancellable, on_read, g_object_ref (self));
}

static gboolean
on_grace_over (gpointer user_data)
{
        PhxExecProcess *self = user_data;

        self->grace_id = 0;
        g_debug ("pid %" G_GINT64_FORMAT ": exited, pipes still open after %d ms: not waiting for them",
                 self->pid, PHX_EXEC_PIPE_GRACE_MS);
        g_cancellable_cancel (self->cancellable);
        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++)
                g_clear_object (&self->capture[i].pipe);
        maybe_finish (self);
        return G_SOURCE_REMOVE;
}

static void
on_exited (GPid pid, int wait_status, gpointer user_data)
{
        PhxExecProcess *self = user_data;

        self->child_watch_id = 0;
        self->exited = TRUE;
        self->status = wait_status;
        g_clear_handle_id (&self->timeout_id, g_source_remove);
        self->grace_id = g_timeout_add (PHX_EXEC_PIPE_GRACE_MS, on_grace_over, self);
        maybe_finish (self);
}

static gboolean
on_timeout (gpointer user_data)
{
        PhxExecProcess *self = user_data;

        self->timeout_id = 0;
        self->timed_out = TRUE;
        g_message ("pid %" G_GINT64_FORMAT ": timed out, killing its process group", self->pid);
        kill (-(pid_t) self->pid, SIGKILL);
        return G_SOURCE_REMOVE;
}

static void
on_input_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
        g_autoptr(GError) error = NULL;

        g_bytes_unref (user_data);
        /* a command that exits without reading its input is not an error of ours */
        if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
                g_debug ("stdin: %s", error->message);
        g_output_stream_close (G_OUTPUT_STREAM (source), NULL, NULL);
}

/* In the child, before exec: a process group of its own, SIGPIPE as a command expects it
 * (the agent ignores it), and the user's ids when it runs as someone else: groups, then
 * gid, then uid (after which it could change none of them). A step that fails ends the
 * child with 126 before it runs anything as root. Only async-signal-safe calls here. */
static void
child_setup (gpointer user_data)
{
        const PhxExecUser *user = user_data;

        setpgid (0, 0);
        signal (SIGPIPE, SIG_DFL);
        if (user != NULL && (setgroups ((size_t) user->n_groups, user->groups) < 0 || setgid (user->gid) < 0 ||
                             setuid (user->uid) < 0))
                _exit (126);
}

static gboolean
captures_out (PhxExecCapture capture)
{
        return capture == PHX_EXEC_CAPTURE_STDOUT || capture == PHX_EXEC_CAPTURE_SEPARATED ||
               capture == PHX_EXEC_CAPTURE_MERGED;
}

static gboolean
captures_err (PhxExecCapture capture)
{
        return capture == PHX_EXEC_CAPTURE_STDERR || capture == PHX_EXEC_CAPTURE_SEPARATED;
}

/* g_spawn with DO_NOT_REAP_CHILD rather than GSubprocess: GSubprocess reaps from its own
 * thread and forgets the pid (get_identifier returns NULL) once it has, so a command that
 * exits at once could not be told to the host by its pid. Here the pid is known from the
 * spawn and the main loop's child watch reaps it. */
PhxExecProcess *
phx_exec_process_spawn (const PhxExecSpec *spec, PhxExecQuota *quota, GError **error)
{
        g_autoptr(PhxExecProcess) self = g_object_new (PHX_TYPE_EXEC_PROCESS, NULL);
        GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES;
        gboolean out = captures_out (spec->capture), err = captures_err (spec->capture);
        int merged[2] = { -1, -1 };
        int in_fd = -1, out_fd = -1, err_fd = -1;
        GPid pid;
        g_autoptr(GError) local = NULL;

        self->quota = g_rc_box_acquire (quota);
        self->capture_max = spec->capture_max > 0 ? spec->capture_max : PHX_EXEC_CAPTURE_MAX;
        flags |= spec->envp != NULL ? G_SPAWN_SEARCH_PATH_FROM_ENVP : G_SPAWN_SEARCH_PATH;
        if (!out)
                flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
        if (!err && spec->capture != PHX_EXEC_CAPTURE_MERGED)
                flags |= G_SPAWN_STDERR_TO_DEV_NULL;
        /* merged: both of the child's streams are the write end of one pipe */
        if (spec->capture == PHX_EXEC_CAPTURE_MERGED && !g_unix_open_pipe (merged, FD_CLOEXEC, &local)) {
                phx_error_set (error, EMFILE, "pipe: %s", local->message);
                return NULL;
        }
        if (!g_spawn_async_with_pipes_and_fds (spec->cwd != NULL ? spec->cwd : "/", (const char *const *) spec->argv,
                                               (const char *const *) spec->envp, flags, child_setup,
                                               (gpointer) spec->user, -1,
                                               merged[1], merged[1], NULL, NULL, 0, &pid,
                                               spec->input != NULL ? &in_fd : NULL,
                                               out && merged[1] < 0 ? &out_fd : NULL, err ? &err_fd : NULL,
                                               &local)) {
                if (merged[0] >= 0) {
                        close (merged[0]);
                        close (merged[1]);
                }
                phx_error_set (error, local->domain == G_SPAWN_ERROR && local->code == G_SPAWN_ERROR_NOENT ? ENOENT
                                                                                                           : EINVAL,
                               "%s", local->message);
                return NULL;
        }
        if (merged[1] >= 0) {
                close (merged[1]);
                out_fd = merged[0];
        }
        self->pid = pid;
        self->captures[PHX_EXEC_OUT] = out;
        self->captures[PHX_EXEC_ERR] = err;
        if (out_fd >= 0)
                self->capture[PHX_EXEC_OUT].pipe = g_unix_input_stream_new (out_fd, TRUE);
        if (err_fd >= 0)
                self->capture[PHX_EXEC_ERR].pipe = g_unix_input_stream_new (err_fd, TRUE);
        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++) {
                if (self->capture[i].pipe != NULL)
                        read_next (self, i);
        }
        if (in_fd >= 0) {
                g_unix_set_fd_nonblocking (in_fd, TRUE, NULL);
                self->input = g_unix_output_stream_new (in_fd, TRUE);
                g_output_stream_write_all_async (self->input, g_bytes_get_data (spec->input, NULL),
                                                 g_bytes_get_size (spec->input), G_PRIORITY_DEFAULT, self->cancellable,
                                                 on_input_written, g_bytes_ref (spec->input));
        }
        self->child_watch_id = g_child_watch_add (pid, on_exited, self);
        if (spec->timeout_s > 0)
                self->timeout_id = g_timeout_add_seconds (spec->timeout_s, on_timeout, self);
        return g_steal_pointer (&self);
}

gint64
phx_exec_process_get_pid (PhxExecProcess *self)
{
        return self->pid;
}

gboolean
phx_exec_process_is_finished (PhxExecProcess *self)
{
        return self->finished;
}

gboolean
phx_exec_process_get_exit (PhxExecProcess *self, int *code, int *signal)
{
        if (WIFSIGNALED (self->status)) {
                *signal = WTERMSIG (self->status);
                return FALSE;
        }
        *code = WEXITSTATUS (self->status);
        return TRUE;
}

gboolean
phx_exec_process_captures (PhxExecProcess *self, PhxExecStream stream)
{
        return self->captures[stream];
}

GBytes *
phx_exec_process_read (PhxExecProcess *self, PhxExecStream stream, gsize offset, gsize max, gsize *total)
{
        GByteArray *data = self->capture[stream].data;

        *total = data->len;
        if (offset >= data->len)
                return g_bytes_new (NULL, 0);
        return g_bytes_new (data->data + offset, MIN (max, data->len - offset));
}

gboolean
phx_exec_process_get_truncated (PhxExecProcess *self, PhxExecStream stream)
{
        return self->capture[stream].truncated;
}

gboolean
phx_exec_process_get_timed_out (PhxExecProcess *self)
{
        return self->timed_out;
}

/* The whole process group: what the command started goes with it. */
gboolean
phx_exec_process_kill (PhxExecProcess *self, int signal, GError **error)
{
        if (self->exited) {
                phx_error_set (error, ESRCH, "process %" G_GINT64_FORMAT " has already exited", self->pid);
                return FALSE;
        }
        if (kill (-(pid_t) self->pid, signal) < 0) {
                phx_error_set_errno (error, errno, "kill process group %" G_GINT64_FORMAT, self->pid);
                return FALSE;
        }
        return TRUE;
}

static void
phx_exec_process_dispose (GObject *object)
{
        PhxExecProcess *self = PHX_EXEC_PROCESS (object);

        g_cancellable_cancel (self->cancellable);
        g_clear_handle_id (&self->timeout_id, g_source_remove);
        g_clear_handle_id (&self->grace_id, g_source_remove);
        /* a command still running when the agent goes is left running; GLib reaps it */
        g_clear_handle_id (&self->child_watch_id, g_source_remove);
        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++)
                g_clear_object (&self->capture[i].pipe);
        g_clear_object (&self->input);
        G_OBJECT_CLASS (phx_exec_process_parent_class)->dispose (object);
}

static void
phx_exec_process_finalize (GObject *object)
{
        PhxExecProcess *self = PHX_EXEC_PROCESS (object);

        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++) {
                if (self->quota != NULL)
                        self->quota->used -= MIN (self->quota->used, self->capture[i].data->len);
                g_byte_array_unref (self->capture[i].data);
        }
        g_clear_pointer (&self->quota, g_rc_box_release);
        g_clear_object (&self->cancellable);
        G_OBJECT_CLASS (phx_exec_process_parent_class)->finalize (object);
}

static void
phx_exec_process_class_init (PhxExecProcessClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->dispose = phx_exec_process_dispose;
        object_class->finalize = phx_exec_process_finalize;
        signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                                 NULL, NULL, G_TYPE_NONE, 0);
}

static void
phx_exec_process_init (PhxExecProcess *self)
{
        self->cancellable = g_cancellable_new ();
        for (guint i = 0; i < PHX_EXEC_N_STREAMS; i++)
                self->capture[i].data = g_byte_array_new ();
}
