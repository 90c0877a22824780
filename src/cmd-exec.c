/* cmd-exec.c — running commands in the guest: exec, exec-status, exec-kill, and qemu-ga's
 * guest-exec / guest-exec-status as their faces. The family owns the table of commands it
 * started (PhxExecProcess each), the total of their captured output, and the timers that
 * forget finished commands nobody asked about.
 *
 * What differs from qemu-ga, and why (doc/protocol.md "Running commands"):
 * - a command that exited is reported exited within PHX_EXEC_PIPE_GRACE_MS even if something
 *   it started still holds its output pipes (qemu-ga: never, while that child lives);
 * - a status reply carries at most PHX_EXEC_STATUS_PAGE bytes of each stream, so it stays
 *   under libvirt's 10 MiB reply limit; with the out-offset/err-offset extension a host reads
 *   the rest, and reads output while the command still runs;
 * - `out-truncated`/`err-truncated` say whether the host got less than the command wrote;
 * - a bounded number of commands, a bounded capture in all, finished commands forgotten
 *   after PHX_EXEC_RECORD_TTL_S if never asked about; a timeout and a kill that reach the
 *   whole process group; a working directory. */
#define G_LOG_DOMAIN "cmd-exec"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cmd-exec.h"
#include "exec-process.h"
#include "phx-base64.h"
#include "phx-error.h"
#include "phx-family.h"
#include "phx-limits.h"
#include "util-user.h"

typedef struct {
        PhxExecProcess *proc;
        guint ttl_id;
} Record;

typedef struct {
        PhxFamily parent_instance;
        GHashTable *records; /* pid (gint64*) -> Record */
        guint reserved;      /* exec admitted, not yet spawned */
        gsize capture_max;   /* per stream of one command */
        PhxExecQuota *quota;
} PhxExecFamily;

typedef struct {
        PhxFamilyClass parent_class;
} PhxExecFamilyClass;

G_DEFINE_TYPE (PhxExecFamily, phx_exec_family, PHX_TYPE_FAMILY)

#define EXEC_FAMILY(call) ((PhxExecFamily *) (call)->family)

static void
record_free (gpointer data)
{
        Record *r = data;

        g_clear_handle_id (&r->ttl_id, g_source_remove);
        g_signal_handlers_disconnect_by_data (r->proc, r);
        g_object_unref (r->proc);
        g_free (r);
}

typedef struct {
        PhxExecFamily *family;
        gint64 pid;
} Forget;

static gboolean
on_ttl (gpointer user_data)
{
        Forget *f = user_data;
        Record *r = g_hash_table_lookup (f->family->records, &f->pid);

        g_message ("pid %" G_GINT64_FORMAT ": finished %d s ago and never asked about: forgotten", f->pid,
                   PHX_EXEC_RECORD_TTL_S);
        r->ttl_id = 0;
        g_hash_table_remove (f->family->records, &f->pid);
        return G_SOURCE_REMOVE;
}

static void
on_finished (PhxExecProcess *proc, gpointer user_data)
{
        Record *r = user_data;
        PhxExecFamily *family = g_object_get_data (G_OBJECT (proc), "phx-exec-family");
        Forget *f = g_new (Forget, 1);

        f->family = family;
        f->pid = phx_exec_process_get_pid (proc);
        r->ttl_id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, PHX_EXEC_RECORD_TTL_S, on_ttl, f, g_free);
}

/* arg/env: a JSON array of strings, in qemu-ga's words when it is not one */
static char **
string_list (JsonNode *node, const char *name, GError **error)
{
        JsonArray *arr;
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

        if (node == NULL)
                return NULL;
        arr = json_node_get_array (node);
        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonNode *e = json_array_get_element (arr, i);
                if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING) {
                        phx_error_set (error, EINVAL, "Invalid parameter type for '%s[%u]', expected: string", name, i);
                        return NULL;
                }
                g_strv_builder_add (builder, json_node_get_string (e));
        }
        return g_strv_builder_end (builder);
}

static gboolean
capture_mode (JsonNode *node, PhxExecCapture *out, GError **error)
{
        static const char *const names[] = { "none", "stdout", "stderr", "separated", "merged" };

        if (node == NULL) {
                *out = PHX_EXEC_CAPTURE_NONE;
                return TRUE;
        }
        /* qemu-ga before 8.0 took a boolean: true is both streams, separately */
        if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN) {
                *out = json_node_get_boolean (node) ? PHX_EXEC_CAPTURE_SEPARATED : PHX_EXEC_CAPTURE_NONE;
                return TRUE;
        }
        if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
                for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
                        if (g_str_equal (json_node_get_string (node), names[i])) {
                                *out = (PhxExecCapture) i;
                                return TRUE;
                        }
                }
                phx_error_set (error, EINVAL, "Parameter 'capture-output' does not accept value '%s'",
                               json_node_get_string (node));
                return FALSE;
        }
        phx_error_set (error, EINVAL, "Invalid parameter type for 'capture-output', expected: boolean or string");
        return FALSE;
}

/* What exec will spawn, made ready in a worker thread (the user lookup reads NSS, which
 * may block) and spawned by the family's finish on the main thread, which owns the table. */
typedef struct {
        GStrv argv;
        GStrv env;
        char *cwd;
        GBytes *input;
        PhxExecCapture capture;
        guint timeout_s;
        gboolean as_user;
        PhxUser account;   /* looked up */
        PhxExecUser user;  /* what the child takes of it */
} ExecPlan;

static void
exec_plan_free (gpointer data)
{
        ExecPlan *plan = data;

        g_strfreev (plan->argv);
        g_strfreev (plan->env);
        g_free (plan->cwd);
        g_clear_pointer (&plan->input, g_bytes_unref);
        phx_user_clear (&plan->account);
        g_free (plan);
}

/* `user`: their ids and groups; unless the host gave an environment, the one a login gives
 * (HOME, USER, LOGNAME, SHELL, and the agent's PATH); unless it gave a directory, their home
 * if it exists. */
static gboolean
plan_user (ExecPlan *plan, const char *name, GError **error)
{
        PhxUser *u = &plan->account;

        if (!phx_user_lookup (name, u, error))
                return FALSE;
        plan->as_user = TRUE;
        plan->user.uid = u->uid;
        plan->user.gid = u->gid;
        plan->user.groups = u->groups;
        plan->user.n_groups = u->n_groups;
        if (plan->env == NULL) {
                GStrvBuilder *b = g_strv_builder_new ();
                g_autofree char *home = g_strdup_printf ("HOME=%s", u->home);
                g_autofree char *user = g_strdup_printf ("USER=%s", u->name);
                g_autofree char *logname = g_strdup_printf ("LOGNAME=%s", u->name);
                g_autofree char *shell = g_strdup_printf ("SHELL=%s", u->shell);
                g_autofree char *path = g_strdup_printf ("PATH=%s", g_getenv ("PATH") ? g_getenv ("PATH")
                                                                                       : "/usr/bin:/bin");
                g_strv_builder_add_many (b, home, user, logname, shell, path, NULL);
                plan->env = g_strv_builder_end (b);
                g_strv_builder_unref (b);
        }
        if (plan->cwd == NULL && g_file_test (u->home, G_FILE_TEST_IS_DIR))
                plan->cwd = g_strdup (u->home);
        return TRUE;
}

static JsonNode *
exec_prepare (PhxCall *call, GError **error)
{
        const char *path = phx_args_get_string (call->args, "path");
        const char *user = phx_args_get_string (call->args, "user");
        g_autoptr(GStrvBuilder) argv = g_strv_builder_new ();
        g_auto(GStrv) args = NULL;
        ExecPlan *plan = g_new0 (ExecPlan, 1);

        call->family_data = plan;
        call->family_data_free = exec_plan_free;
        args = string_list (phx_args_get_node (call->args, "arg"), "arg", error);
        if (error != NULL && *error != NULL)
                return NULL;
        plan->env = string_list (phx_args_get_node (call->args, "env"), "env", error);
        if (error != NULL && *error != NULL)
                return NULL;
        if (!capture_mode (phx_args_get_node (call->args, "capture-output"), &plan->capture, error))
                return NULL;
        g_strv_builder_add (argv, path);
        if (args != NULL)
                g_strv_builder_addv (argv, (const char **) args);
        plan->argv = g_strv_builder_end (argv);
        plan->cwd = g_strdup (phx_args_get_string (call->args, "cwd"));
        plan->input = phx_args_get_bytes (call->args, "input-data");
        if (plan->input != NULL)
                g_bytes_ref (plan->input);
        plan->timeout_s = (guint) phx_args_get_int (call->args, "timeout");
        if (user != NULL && !plan_user (plan, user, error))
                return NULL;
        return NULL; /* the pid comes from finish */
}

static gboolean
is_exec (PhxCall *call)
{
        return call->command->func == exec_prepare;
}

/* A slot in the table is taken at admission, in arrival order, so that commands admitted
 * together cannot go past the bound. */
static gboolean
exec_admit (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxExecFamily *self = (PhxExecFamily *) family;

        if (is_exec (call)) {
                if (g_hash_table_size (self->records) + self->reserved >= PHX_EXEC_MAX) {
                        phx_error_set (error, EAGAIN,
                                       "%d commands are running or waiting to be collected with exec-status: no more",
                                       PHX_EXEC_MAX);
                        return FALSE;
                }
                self->reserved++;
        }
        return PHX_FAMILY_CLASS (phx_exec_family_parent_class)->admit (family, call, error);
}

static JsonNode *
spawn (PhxExecFamily *self, ExecPlan *plan, GError **error)
{
        PhxExecSpec spec = { 0 };
        g_autofree char *printable = NULL;
        PhxExecProcess *proc;
        Record *record;
        gint64 *key;
        JsonObject *ret;

        spec.argv = plan->argv;
        spec.envp = plan->env;
        spec.cwd = plan->cwd;
        spec.input = plan->input;
        spec.capture = plan->capture;
        spec.timeout_s = plan->timeout_s;
        spec.user = plan->as_user ? &plan->user : NULL;
        spec.capture_max = self->capture_max;
        proc = phx_exec_process_spawn (&spec, self->quota, error);
        if (proc == NULL)
                return NULL;
        /* the path only, escaped: arguments, environment and input may carry secrets, and a
         * newline in a host-sent name must not make a log line of its own */
        printable = g_strescape (plan->argv[0], NULL);
        if (plan->as_user)
                g_message ("exec: pid %" G_GINT64_FORMAT " (uid %u): %s", phx_exec_process_get_pid (proc),
                           (unsigned) plan->user.uid, printable);
        else
                g_message ("exec: pid %" G_GINT64_FORMAT ": %s", phx_exec_process_get_pid (proc), printable);
        record = g_new0 (Record, 1);
        record->proc = proc;
        g_object_set_data (G_OBJECT (proc), "phx-exec-family", self);
        g_signal_connect (proc, "finished", G_CALLBACK (on_finished), record);
        key = g_new (gint64, 1);
        *key = phx_exec_process_get_pid (proc);
        g_hash_table_insert (self->records, key, record);

        ret = json_object_new ();
        json_object_set_int_member (ret, "pid", *key);
        return json_node_init_object (json_node_alloc (), ret);
}

static void
exec_finish (PhxFamily *family, PhxCall *call, JsonNode **result, GError **error)
{
        PhxExecFamily *self = (PhxExecFamily *) family;

        if (!is_exec (call))
                return;
        self->reserved--;
        if (*error == NULL && call->family_data != NULL)
                *result = spawn (self, call->family_data, error);
}

static const char *const stream_prefix[PHX_EXEC_N_STREAMS] = { "out", "err" };

/* One stream's part of a status reply; TRUE when the host has now seen all of it. */
static gboolean
add_stream (JsonObject *ret, PhxExecProcess *proc, PhxExecStream stream, gint64 offset, gboolean paged)
{
        const char *p = stream_prefix[stream];
        g_autofree char *data_name = g_strdup_printf ("%s-data", p);
        g_autofree char *trunc_name = g_strdup_printf ("%s-truncated", p);
        gsize total;
        g_autoptr(GBytes) page = NULL;
        gsize end;
        gboolean lost;
        g_autofree char *text = NULL;

        if (!phx_exec_process_captures (proc, stream))
                return TRUE;
        page = phx_exec_process_read (proc, stream, (gsize) offset, PHX_EXEC_STATUS_PAGE, &total);
        end = MIN ((gsize) offset, total) + g_bytes_get_size (page);
        /* as qemu-ga: a stream that said nothing has no members (unless a host reads pages) */
        if (total == 0 && !paged && !phx_exec_process_get_truncated (proc, stream))
                return TRUE;
        text = phx_base64_encode (g_bytes_get_data (page, NULL), g_bytes_get_size (page));
        json_object_set_string_member (ret, data_name, text);
        /* the host got less than the command wrote: dropped at the capture bound, or (without
         * offsets, the last reply qemu-ga's way) past this reply's page */
        lost = phx_exec_process_get_truncated (proc, stream) || (!paged && end < total);
        json_object_set_boolean_member (ret, trunc_name, lost);
        if (paged) {
                g_autofree char *end_name = g_strdup_printf ("%s-end", p);
                g_autofree char *total_name = g_strdup_printf ("%s-captured", p);
                json_object_set_int_member (ret, end_name, (gint64) end);
                json_object_set_int_member (ret, total_name, (gint64) total);
        }
        return end >= total;
}

static JsonNode *
exec_status (PhxCall *call, GError **error)
{
        PhxExecFamily *self = EXEC_FAMILY (call);
        gint64 pid = phx_args_get_int (call->args, "pid");
        gboolean paged = phx_args_has (call->args, "out-offset") || phx_args_has (call->args, "err-offset");
        Record *r = g_hash_table_lookup (self->records, &pid);
        JsonObject *ret;
        gboolean finished, all_seen = TRUE;
        int code = 0, sig = 0;

        if (r == NULL) {
                phx_error_set (error, ESRCH, "Invalid parameter 'pid'");
                return NULL;
        }
        finished = phx_exec_process_is_finished (r->proc);
        ret = json_object_new ();
        json_object_set_boolean_member (ret, "exited", finished);
        if (finished) {
                if (phx_exec_process_get_exit (r->proc, &code, &sig))
                        json_object_set_int_member (ret, "exitcode", code);
                else
                        json_object_set_int_member (ret, "signal", sig);
        }
        /* qemu-ga sends output only once the command has exited; with offsets it streams */
        if (finished || paged) {
                all_seen &= add_stream (ret, r->proc, PHX_EXEC_OUT, phx_args_get_int (call->args, "out-offset"), paged);
                all_seen &= add_stream (ret, r->proc, PHX_EXEC_ERR, phx_args_get_int (call->args, "err-offset"), paged);
        }
        if (phx_exec_process_get_timed_out (r->proc))
                json_object_set_boolean_member (ret, "timed-out", TRUE);
        /* qemu-ga forgets a command once it has said it exited; a host reading by offsets
         * once it has read everything */
        if (finished && (!paged || all_seen))
                g_hash_table_remove (self->records, &pid);
        return json_node_init_object (json_node_alloc (), ret);
}

static JsonNode *
exec_kill (PhxCall *call, GError **error)
{
        PhxExecFamily *self = EXEC_FAMILY (call);
        gint64 pid = phx_args_get_int (call->args, "pid");
        Record *r = g_hash_table_lookup (self->records, &pid);

        if (r == NULL) {
                phx_error_set (error, ESRCH, "Invalid parameter 'pid'");
                return NULL;
        }
        if (!phx_exec_process_kill (r->proc, (int) phx_args_get_int (call->args, "signal"), error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxArgSpec exec_args[] = {
        { "path", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "arg", PHX_ARG_ARRAY, 0 },
        { "env", PHX_ARG_ARRAY, 0 },
        { "input-data", PHX_ARG_BASE64, 0 },
        { "capture-output", PHX_ARG_ANY, 0 },
        { "cwd", PHX_ARG_PATH, 0 },
        { "timeout", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = PHX_EXEC_TIMEOUT_MAX_S },
        { "user", PHX_ARG_STRING, 0 },
        { NULL }
};

static const PhxArgSpec status_args[] = {
        { "pid", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { "out-offset", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = G_MAXINT64 },
        { "err-offset", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = G_MAXINT64 },
        { NULL }
};

static const PhxArgSpec kill_args[] = {
        { "pid", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { "signal", PHX_ARG_INT, 0, .def.i = SIGKILL, .min = 1, .max = 64 },
        { NULL }
};

/* qemu-ga's faces: its own arguments, and the extensions under QAPI's downstream prefix so
 * that no future qemu-ga member can mean something else */
#define EXT "__org.phoenixga_"

static const PhxArgSpec qga_exec_args[] = {
        { "path", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "arg", PHX_ARG_ARRAY, 0 },
        { "env", PHX_ARG_ARRAY, 0 },
        { "input-data", PHX_ARG_BASE64, 0 },
        { "capture-output", PHX_ARG_ANY, 0 },
        { EXT "cwd", PHX_ARG_PATH, 0, .as = "cwd" },
        { EXT "timeout", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = PHX_EXEC_TIMEOUT_MAX_S, .as = "timeout" },
        { EXT "user", PHX_ARG_STRING, 0, .as = "user" },
        { NULL }
};

static const PhxArgSpec qga_status_args[] = {
        { "pid", PHX_ARG_INT, PHX_ARG_REQUIRED },
        { EXT "out-offset", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = G_MAXINT64, .as = "out-offset" },
        { EXT "err-offset", PHX_ARG_INT, 0, .def.i = 0, .min = 0, .max = G_MAXINT64, .as = "err-offset" },
        { NULL }
};

/* qemu-ga's members as they are; ours renamed under the downstream prefix */
static JsonNode *
qga_status_reply (JsonNode *result)
{
        static const char *const ours[] = { "out-end", "err-end", "out-captured", "err-captured", "timed-out" };
        JsonObject *obj = json_node_get_object (result);

        for (guint i = 0; i < G_N_ELEMENTS (ours); i++) {
                JsonNode *v = json_object_dup_member (obj, ours[i]);
                if (v == NULL)
                        continue;
                g_autofree char *name = g_strconcat (EXT, ours[i], NULL);
                json_object_remove_member (obj, ours[i]);
                json_object_set_member (obj, name, v);
        }
        return result;
}

static const PhxCommand exec_commands[] = {
        { "exec", exec_prepare, exec_args, PHX_CMD_THREADED },
        { "exec-status", exec_status, status_args, PHX_CMD_FROZEN_OK },
        { "exec-kill", exec_kill, kill_args, PHX_CMD_FROZEN_OK },
        { NULL }
};

static const PhxFace exec_faces[] = {
        { PHX_DIALECT_QGA, "guest-exec", "exec", qga_exec_args, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-exec-status", "exec-status", qga_status_args, qga_status_reply, PHX_FACE_STRICT },
        { .name = NULL }
};

static void
phx_exec_family_finalize (GObject *object)
{
        PhxExecFamily *self = (PhxExecFamily *) object;

        g_hash_table_unref (self->records);
        g_rc_box_release (self->quota);
        G_OBJECT_CLASS (phx_exec_family_parent_class)->finalize (object);
}

static void
phx_exec_family_class_init (PhxExecFamilyClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = phx_exec_family_finalize;
        PHX_FAMILY_CLASS (klass)->commands = exec_commands;
        PHX_FAMILY_CLASS (klass)->faces = exec_faces;
        PHX_FAMILY_CLASS (klass)->admit = exec_admit;
        PHX_FAMILY_CLASS (klass)->finish = exec_finish;
}

static void
phx_exec_family_init (PhxExecFamily *self)
{
        self->records = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, record_free);
        self->quota = g_rc_box_new0 (PhxExecQuota);
        self->quota->max = PHX_EXEC_CAPTURE_TOTAL_MAX;
        self->capture_max = PHX_EXEC_CAPTURE_MAX;
}

PhxFamily *
phx_exec_family_new (gsize capture_max)
{
        PhxExecFamily *self = g_object_new (phx_exec_family_get_type (), NULL);

        if (capture_max > 0)
                self->capture_max = capture_max;
        return (PhxFamily *) self;
}
