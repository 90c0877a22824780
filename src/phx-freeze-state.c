/* phx-freeze-state.c — the freeze state of the guest. Kernel work runs in workers (through
 * phx-freeze); state changes on the main thread. A marker file under the runtime directory
 * (tmpfs) lists what may be frozen before the first FIFREEZE and goes away after the last
 * FITHAW, so an agent restarted after a crash knows the guest is frozen and can thaw it.
 * While frozen, a one-shot timer thaws by itself if no host does; nothing else wakes. */
#define G_LOG_DOMAIN "phx-freeze-state"

#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "phx-error.h"
#include "phx-freeze-state.h"
#include "phx-limits.h"
#include "phx-log.h"

struct _PhxFreezeState {
        GObject parent_instance;
        const PhxFreezeBackend *backend;
        char *hook;
        char *marker;
        guint timeout_seconds;
        GMutex lock;
        GPtrArray *mounts;    /* what to thaw; under lock, read by workers */
        gboolean frozen;
        gint64 frozen_since;  /* real time, us */
        guint freezing;       /* freezes admitted and not finished (main thread) */
        guint timer_id;
};

enum { PROP_0, PROP_FROZEN, PROP_FROZEN_SINCE, N_PROPS };
static GParamSpec *props[N_PROPS];

enum { SIGNAL_THAW_DUE, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxFreezeState, phx_freeze_state, G_TYPE_OBJECT)

gboolean
phx_freeze_state_get_frozen (PhxFreezeState *self)
{
        return self->frozen;
}

gint64
phx_freeze_state_get_frozen_since (PhxFreezeState *self)
{
        return self->frozen_since;
}

/* The gate: closed while frozen, and from the moment a freeze is admitted until it ends. */
gboolean
phx_freeze_state_get_gate_closed (PhxFreezeState *self)
{
        return self->frozen || self->freezing > 0;
}


void
phx_freeze_state_begin_freeze (PhxFreezeState *self)
{
        self->freezing++;
}

void
phx_freeze_state_end_freeze (PhxFreezeState *self)
{
        g_return_if_fail (self->freezing > 0);
        self->freezing--;
}

static GPtrArray *
dup_mounts (PhxFreezeState *self)
{
        GPtrArray *copy = g_ptr_array_new_with_free_func (g_free);

        g_mutex_lock (&self->lock);
        for (guint i = 0; self->mounts != NULL && i < self->mounts->len; i++)
                g_ptr_array_add (copy, g_strdup (g_ptr_array_index (self->mounts, i)));
        g_mutex_unlock (&self->lock);
        return copy;
}

/* The runtime directory holds only the marker: 0700, whatever the umask, when we make it. */
static gboolean
make_runtime_dir (const char *dir, GError **error)
{
        g_autofree char *parent = g_path_get_dirname (dir);

        if (g_file_test (dir, G_FILE_TEST_IS_DIR))
                return TRUE;
        if (g_mkdir_with_parents (parent, 0755) < 0) {
                phx_error_set_errno (error, errno, "create %s", parent);
                return FALSE;
        }
        if (mkdir (dir, 0700) < 0 && errno != EEXIST) {
                phx_error_set_errno (error, errno, "create %s", dir);
                return FALSE;
        }
        if (chmod (dir, 0700) < 0) {
                phx_error_set_errno (error, errno, "chmod %s", dir);
                return FALSE;
        }
        return TRUE;
}

/* Lists `mounts` in the marker. Written by hand rather than with g_file_set_contents so its
 * mode is 0600 whatever the umask (the agent's is 0), and renamed into place so a reader
 * sees the old list or the new one. Refused when the directory is on one of `mounts`: before
 * FIFREEZE that stops a freeze that would leave the marker unwritable; after it (mounts =
 * what is frozen) the write would wait for a thaw that only this agent can do. */
static gboolean
write_marker (PhxFreezeState *self, GPtrArray *mounts, GError **error)
{
        g_autoptr(GString) text = g_string_new (NULL);
        g_autofree char *dir = g_path_get_dirname (self->marker);
        g_autofree char *tmp = g_strconcat (self->marker, ".tmp", NULL);
        gsize done = 0;
        int fd, errsv;

        if (!phx_freeze_marker_dir_safe (dir, mounts, error) || !make_runtime_dir (dir, error))
                return FALSE;
        for (guint i = 0; i < mounts->len; i++)
                g_string_append_printf (text, "%s\n", (char *) g_ptr_array_index (mounts, i));
        if (unlink (tmp) < 0 && errno != ENOENT) {
                phx_error_set_errno (error, errno, "remove %s", tmp);
                return FALSE;
        }
        fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                phx_error_set_errno (error, errno, "create %s", tmp);
                return FALSE;
        }
        if (fchmod (fd, 0600) < 0)
                goto fail;
        while (done < text->len) {
                ssize_t n = write (fd, text->str + done, text->len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        goto fail;
                done += (gsize) n;
        }
        if (fsync (fd) < 0)
                goto fail;
        errsv = close (fd) < 0 ? errno : 0;
        fd = -1;
        if (errsv != 0 || rename (tmp, self->marker) < 0) {
                errno = errsv != 0 ? errsv : errno;
                goto fail;
        }
        return TRUE;
fail:
        errsv = errno;
        if (fd >= 0)
                close (fd);
        unlink (tmp);
        phx_error_set_errno (error, errsv, "write %s", self->marker);
        return FALSE;
}

static void
remove_marker (PhxFreezeState *self)
{
        g_autofree char *tmp = g_strconcat (self->marker, ".tmp", NULL);

        if (g_unlink (self->marker) < 0 && errno != ENOENT)
                g_warning (_("cannot remove %s: %s"), self->marker, g_strerror (errno));
        /* left only if an agent died between creating and renaming it */
        g_unlink (tmp);
}

GPtrArray *
phx_freeze_state_freeze (PhxFreezeState *self, GError **error)
{
        return phx_freeze_state_freeze_only (self, NULL, error);
}

/* Worker: hook, marker, FIFREEZE. On failure everything is as before. */
GPtrArray *
phx_freeze_state_freeze_only (PhxFreezeState *self, const char *const *only, GError **error)
{
        const PhxFreezeBackend *b = self->backend;
        g_autoptr(GPtrArray) candidates = NULL;
        GPtrArray *frozen;

        if (self->hook != NULL && !phx_freeze_hook_run (self->hook, "freeze", PHX_FREEZE_HOOK_TIMEOUT, error))
                return NULL;
        candidates = phx_freeze_backend_list (b, only, error);
        if (candidates == NULL || !write_marker (self, candidates, error))
                goto undo_hook;
        frozen = phx_freeze_all (b, candidates, error);
        if (frozen != NULL) {
                /* from here on, only what was frozen is listed */
                write_marker (self, frozen, NULL);
                return frozen;
        }
        remove_marker (self);
undo_hook:
        if (self->hook != NULL)
                phx_freeze_hook_run (self->hook, "thaw", PHX_FREEZE_HOOK_TIMEOUT, NULL);
        return NULL;
}

typedef struct {
        GSubprocess *proc;
        guint timeout_id;
} HookRun;

static void
on_thaw_hook_exit (GObject *source, GAsyncResult *res, gpointer user_data)
{
        HookRun *run = user_data;
        g_autoptr(GError) error = NULL;

        if (!g_subprocess_wait_check_finish (G_SUBPROCESS (source), res, &error))
                g_warning (_("fsfreeze hook 'thaw' failed: %s"), error->message);
        g_clear_handle_id (&run->timeout_id, g_source_remove);
        g_object_unref (run->proc);
        g_free (run);
}

static gboolean
on_thaw_hook_timeout (gpointer user_data)
{
        HookRun *run = user_data;

        run->timeout_id = 0;
        g_warning (_("fsfreeze hook 'thaw' still running after %d s: killed"), PHX_FREEZE_HOOK_TIMEOUT);
        phx_freeze_hook_kill (run->proc);
        return G_SOURCE_REMOVE;
}

/* The thaw hook runs after the thaw, watched from the main loop: nothing waits for it. */
static void
start_thaw_hook (PhxFreezeState *self)
{
        g_autoptr(GError) error = NULL;
        HookRun *run;
        GSubprocess *proc;

        if (self->hook == NULL)
                return;
        proc = phx_freeze_hook_spawn (self->hook, "thaw", &error);
        if (proc == NULL) {
                g_warning (_("fsfreeze hook '%s thaw' could not start: %s"), self->hook, error->message);
                return;
        }
        run = g_new0 (HookRun, 1);
        run->proc = proc;
        run->timeout_id = g_timeout_add_seconds (PHX_FREEZE_HOOK_TIMEOUT, on_thaw_hook_timeout, run);
        g_subprocess_wait_check_async (proc, NULL, on_thaw_hook_exit, run);
}

static void enter_frozen (PhxFreezeState *self, GPtrArray *mounts, gint64 since);

/* Main thread. FITHAW never waits on the frozen filesystems, so thawing runs right here and
 * cannot be starved by workers stuck writing to a frozen disk. */
gboolean
phx_freeze_state_thaw_now (PhxFreezeState *self, GError **error)
{
        guint n;

        return phx_freeze_state_thaw_counted (self, &n, error);
}

/* n_thawed: filesystems this thaw thawed (0 when nothing was frozen). */
gboolean
phx_freeze_state_thaw_counted (PhxFreezeState *self, guint *n_thawed, GError **error)
{
        g_autoptr(GPtrArray) mounts = dup_mounts (self);

        if (!phx_thaw_all_counted (self->backend, mounts, n_thawed, error))
                return FALSE;
        remove_marker (self);
        phx_freeze_state_set_thawed (self);
        start_thaw_hook (self);
        return TRUE;
}

/* Main thread: a freeze that froze nothing (qemu-ga's freeze-list of no frozen mountpoint)
 * leaves the guest thawed, as qemu-ga does; but its hook said "freeze", so unlike qemu-ga
 * (which then never says "thaw") the hook is told to thaw, and the marker goes. */
void
phx_freeze_state_abandon (PhxFreezeState *self)
{
        remove_marker (self);
        start_thaw_hook (self);
}

/* The thaw itself must take the freeze lane like every other (see cmd-freeze.c), so the
 * timer only says it is due; it stays armed until a thaw succeeds, and so tries again if
 * this one fails. */
static gboolean
on_timeout (gpointer user_data)
{
        PhxFreezeState *self = user_data;

        g_message (_("no fs-unfreeze within %u s: thawing the filesystems"), self->timeout_seconds);
        g_signal_emit (self, signals[SIGNAL_THAW_DUE], 0);
        return G_SOURCE_CONTINUE;
}

static void
enter_frozen (PhxFreezeState *self, GPtrArray *mounts, gint64 since)
{
        g_mutex_lock (&self->lock);
        g_clear_pointer (&self->mounts, g_ptr_array_unref);
        self->mounts = mounts;
        g_mutex_unlock (&self->lock);
        self->frozen = TRUE;
        self->frozen_since = since;
        phx_log_set_held (TRUE);
        if (self->timeout_seconds > 0 && self->timer_id == 0)
                self->timer_id = g_timeout_add_seconds (self->timeout_seconds, on_timeout, self);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN]);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN_SINCE]);
}

/* Takes ownership of mounts. */
void
phx_freeze_state_set_frozen (PhxFreezeState *self, GPtrArray *mounts)
{
        enter_frozen (self, mounts, g_get_real_time ());
}

void
phx_freeze_state_set_thawed (PhxFreezeState *self)
{
        g_mutex_lock (&self->lock);
        g_clear_pointer (&self->mounts, g_ptr_array_unref);
        g_mutex_unlock (&self->lock);
        g_clear_handle_id (&self->timer_id, g_source_remove);
        if (!self->frozen)
                return;
        self->frozen = FALSE;
        self->frozen_since = 0;
        phx_log_set_held (FALSE);
        g_message (_("filesystems thawed"));
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN]);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FROZEN_SINCE]);
}

/* An earlier agent died while frozen: pick its state up from the marker. Only a regular
 * file of our own user is believed (the directory is ours and 0700, so anything else was put
 * there by hand), and only as much as a marker can hold. */
gboolean
phx_freeze_state_restore (PhxFreezeState *self, GError **error)
{
        g_autoptr(GString) text = g_string_new (NULL);
        g_auto(GStrv) lines = NULL;
        GPtrArray *mounts;
        struct stat st;
        char buf[4096];
        int fd = open (self->marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        int errsv = 0;

        if (fd < 0 && errno == ENOENT)
                return TRUE;
        if (fd < 0) {
                phx_error_set_errno (error, errno, "open %s", self->marker);
                return FALSE;
        }
        if (fstat (fd, &st) < 0) {
                errsv = errno;
                close (fd);
                phx_error_set_errno (error, errsv, "stat %s", self->marker);
                return FALSE;
        }
        if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ()) {
                close (fd);
                phx_error_set (error, PHX_ERROR_GENERIC,
                               "%s is not a regular file of user %u: not the agent's frozen-state marker; "
                               "remove it",
                               self->marker, (guint) geteuid ());
                return FALSE;
        }
        for (;;) {
                ssize_t n = read (fd, buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        errsv = errno;
                if (n <= 0)
                        break;
                g_string_append_len (text, buf, n);
                if (text->len > PHX_FREEZE_MARKER_MAX) {
                        errsv = EFBIG;
                        break;
                }
        }
        close (fd);
        if (errsv != 0) {
                phx_error_set_errno (error, errsv, "read %s", self->marker);
                return FALSE;
        }
        mounts = g_ptr_array_new_with_free_func (g_free);
        lines = g_strsplit (text->str, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                if (lines[i][0] == '/')
                        g_ptr_array_add (mounts, g_strdup (lines[i]));
        }
        g_message (_("%s says the filesystems were left frozen (%u listed); fs-unfreeze thaws them"),
                   self->marker, mounts->len);
        enter_frozen (self, mounts, (gint64) st.st_mtime * G_USEC_PER_SEC);
        return TRUE;
}

PhxFreezeState *
phx_freeze_state_new (const PhxFreezeBackend *backend, const char *hook, const char *runtime_dir,
                 guint timeout_seconds)
{
        PhxFreezeState *self = g_object_new (PHX_TYPE_FREEZE_STATE, NULL);

        self->backend = backend;
        self->hook = g_strdup (hook);
        self->marker = g_build_filename (runtime_dir, "frozen", NULL);
        self->timeout_seconds = timeout_seconds;
        return self;
}

static void
phx_freeze_state_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        PhxFreezeState *self = PHX_FREEZE_STATE (object);

        switch (prop_id) {
        case PROP_FROZEN:
                g_value_set_boolean (value, self->frozen);
                break;
        case PROP_FROZEN_SINCE:
                g_value_set_int64 (value, self->frozen_since);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

static void
phx_freeze_state_dispose (GObject *object)
{
        PhxFreezeState *self = PHX_FREEZE_STATE (object);

        g_clear_handle_id (&self->timer_id, g_source_remove);
        G_OBJECT_CLASS (phx_freeze_state_parent_class)->dispose (object);
}

static void
phx_freeze_state_finalize (GObject *object)
{
        PhxFreezeState *self = PHX_FREEZE_STATE (object);

        g_clear_pointer (&self->mounts, g_ptr_array_unref);
        g_mutex_clear (&self->lock);
        g_free (self->hook);
        g_free (self->marker);
        G_OBJECT_CLASS (phx_freeze_state_parent_class)->finalize (object);
}

static void
phx_freeze_state_class_init (PhxFreezeStateClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

        object_class->get_property = phx_freeze_state_get_property;
        object_class->dispose = phx_freeze_state_dispose;
        object_class->finalize = phx_freeze_state_finalize;
        props[PROP_FROZEN] = g_param_spec_boolean ("frozen", NULL, NULL, FALSE, ro);
        props[PROP_FROZEN_SINCE] = g_param_spec_int64 ("frozen-since", NULL, NULL, 0, G_MAXINT64, 0, ro);
        g_object_class_install_properties (object_class, N_PROPS, props);
        /* The auto-thaw timeout passed: whoever owns the freeze lane thaws. */
        signals[SIGNAL_THAW_DUE] = g_signal_new ("thaw-due", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                                 NULL, NULL, G_TYPE_NONE, 0);
}

static void
phx_freeze_state_init (PhxFreezeState *self)
{
        g_mutex_init (&self->lock);
}
