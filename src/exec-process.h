/* exec-process.h — PhxExecProcess: one command the host runs in the guest, its captured
 * output (bounded), its exit, its deadline. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
        PHX_EXEC_CAPTURE_NONE,
        PHX_EXEC_CAPTURE_STDOUT,
        PHX_EXEC_CAPTURE_STDERR,
        PHX_EXEC_CAPTURE_SEPARATED, /* qemu-ga's `true` */
        PHX_EXEC_CAPTURE_MERGED,    /* stderr into the stdout capture */
} PhxExecCapture;

typedef enum {
        PHX_EXEC_OUT,
        PHX_EXEC_ERR,
        PHX_EXEC_N_STREAMS,
} PhxExecStream;

/* Captured bytes held by every process of one family together, so that many commands
 * cannot add up to more than the agent's memory bound. A g_rc_box: the family and each
 * process hold a reference (a process can outlive the family by its pending reads). */
typedef struct {
        gsize used;
        gsize max;
} PhxExecQuota;

/* Who the command runs as, looked up beforehand (NSS may block: not in the child). */
typedef struct {
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        int n_groups;
} PhxExecUser;

typedef struct {
        char **argv;          /* argv[0] is looked up in PATH (of envp when given) */
        const PhxExecUser *user; /* NULL: root, as the agent */
        char **envp;          /* NULL: the agent's environment */
        const char *cwd;      /* NULL: / */
        GBytes *input;        /* NULL: stdin is /dev/null */
        PhxExecCapture capture;
        guint timeout_s;      /* 0: none; else the process group is killed after it */
        gsize capture_max;    /* bytes kept per stream; 0: PHX_EXEC_CAPTURE_MAX */
} PhxExecSpec;

#define PHX_TYPE_EXEC_PROCESS (phx_exec_process_get_type ())
G_DECLARE_FINAL_TYPE (PhxExecProcess, phx_exec_process, PHX, EXEC_PROCESS, GObject)

PhxExecProcess *phx_exec_process_spawn (const PhxExecSpec *spec, PhxExecQuota *quota, GError **error);
gint64 phx_exec_process_get_pid (PhxExecProcess *self);
/* Exited and its output collected (pipes at EOF, or given up on after the grace). */
gboolean phx_exec_process_is_finished (PhxExecProcess *self);
/* When finished: TRUE and the exit code, or FALSE and the signal that ended it. */
gboolean phx_exec_process_get_exit (PhxExecProcess *self, int *code, int *signal);
gboolean phx_exec_process_captures (PhxExecProcess *self, PhxExecStream stream);
/* Captured bytes [offset, offset + max) of a stream, and how many were captured in all. */
GBytes *phx_exec_process_read (PhxExecProcess *self, PhxExecStream stream, gsize offset, gsize max,
                               gsize *total);
gboolean phx_exec_process_get_truncated (PhxExecProcess *self, PhxExecStream stream);
gboolean phx_exec_process_get_timed_out (PhxExecProcess *self);
gboolean phx_exec_process_kill (PhxExecProcess *self, int signal, GError **error);

G_END_DECLS
