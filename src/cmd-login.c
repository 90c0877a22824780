/* cmd-login.c — the login terminal: `login` and its qemu-ga face `__org.phoenixga_guest-login`
 * (doc/protocol.md, "Login terminal"). The user is looked up in a worker (NSS may block);
 * the family's finish starts the shell on a new terminal on the main thread and hands the
 * connection to the session once the reply is queued. The family owns the sessions, and
 * their number is bounded; login is disabled wherever exec is (the row's `requires`). */
#define G_LOG_DOMAIN "cmd-login"

#include <errno.h>
#include <grp.h>
#include <string.h>

#include "login-pty.h"
#include "login-session.h"
#include "phx-error.h"
#include "phx-family.h"
#include "phx-limits.h"
#include "util-user.h"

typedef struct {
        PhxFamily parent_instance;
        GHashTable *sessions; /* number -> PhxLoginSession*, until it ended */
        guint reserved;       /* logins admitted, not yet started */
        guint next_number;
} PhxLoginFamily;

typedef struct {
        PhxFamilyClass parent_class;
} PhxLoginFamilyClass;

G_DEFINE_TYPE (PhxLoginFamily, phx_login_family, PHX_TYPE_FAMILY)

/* What the worker found out, for finish to start. */
typedef struct {
        PhxUser user;
        gid_t tty_gid;  /* the group that owns terminals, -1 if none */
        char *term;
        guint rows, cols;
} LoginPlan;

static void
login_plan_free (gpointer data)
{
        LoginPlan *plan = data;

        phx_user_clear (&plan->user);
        g_free (plan->term);
        g_free (plan);
}

/* A plain terminal name: it becomes TERM, which programs use as a file name in terminfo. */
static gboolean
term_is_valid (const char *term)
{
        gsize len = strlen (term);

        if (len == 0 || len > PHX_LOGIN_TERM_MAX || term[0] == '.')
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                if (!g_ascii_isalnum (term[i]) && strchr ("._+-", term[i]) == NULL)
                        return FALSE;
        }
        return TRUE;
}

/* The `tty` group, as login and sshd give terminals (NSS: a worker thread). */
static gid_t
tty_group (void)
{
        struct group grp, *found = NULL;
        g_autofree char *buf = g_malloc (PHX_ACCOUNT_NSS_BUF);

        if (getgrnam_r ("tty", &grp, buf, PHX_ACCOUNT_NSS_BUF, &found) != 0 || found == NULL)
                return (gid_t) -1;
        return grp.gr_gid;
}

static JsonNode *
login_prepare (PhxCall *call, GError **error)
{
        const char *user = phx_args_get_string (call->args, "user");
        const char *term = phx_args_get_string (call->args, "term");
        LoginPlan *plan = g_new0 (LoginPlan, 1);

        call->family_data = plan;
        call->family_data_free = login_plan_free;
        if (!term_is_valid (term)) {
                phx_error_set (error, EINVAL, "term: not a terminal name (letters, digits and ._+-, at most %d bytes)",
                               PHX_LOGIN_TERM_MAX);
                return NULL;
        }
        if (!phx_user_lookup (user, &plan->user, error))
                return NULL;
        plan->tty_gid = tty_group ();
        plan->term = g_strdup (term);
        plan->rows = (guint) phx_args_get_int (call->args, "rows");
        plan->cols = (guint) phx_args_get_int (call->args, "cols");
        return NULL; /* the reply comes from finish */
}

/* A slot is taken at admission, in arrival order, so logins sent together keep the bound. */
static gboolean
login_admit (PhxFamily *family, PhxCall *call, GError **error)
{
        PhxLoginFamily *self = (PhxLoginFamily *) family;

        if (g_hash_table_size (self->sessions) + self->reserved >= PHX_LOGIN_SESSIONS_MAX) {
                phx_error_set (error, EAGAIN, "too many login sessions (at most %d at once)", PHX_LOGIN_SESSIONS_MAX);
                return FALSE;
        }
        self->reserved++;
        return PHX_FAMILY_CLASS (phx_login_family_parent_class)->admit (family, call, error);
}

static void
on_session_ended (PhxLoginSession *session, gpointer user_data)
{
        PhxLoginFamily *self = user_data;

        g_signal_handlers_disconnect_by_data (session, self);
        g_hash_table_remove (self->sessions, GUINT_TO_POINTER (phx_login_session_get_number (session)));
}

static void
hand_over (gpointer data, PhxConnection *connection)
{
        g_autoptr(PhxLoginSession) session = data;

        phx_login_session_attach (session, connection);
}

/* A session whose reply never went out (the call ended otherwise): the line is hung up. */
static void
abandon (gpointer data)
{
        g_autoptr(PhxLoginSession) session = data;

        phx_login_session_hang_up (session, "its login was never answered");
}

static void
login_finish (PhxFamily *family, PhxCall *call, JsonNode **result, GError **error)
{
        PhxLoginFamily *self = (PhxLoginFamily *) family;
        LoginPlan *plan = call->family_data;
        PhxLoginPty pty = { .master = -1 };
        g_autoptr(JsonObject) ret = NULL;
        PhxLoginSession *session;
        guint number;

        self->reserved--;
        if (*error != NULL || plan == NULL)
                return;
        if (call->connection == NULL || phx_connection_is_closed (call->connection)) {
                phx_error_set (error, ECONNRESET, "the host left before its login began");
                return;
        }
        if (!phx_login_pty_spawn (&plan->user, plan->tty_gid, plan->term, plan->rows, plan->cols, &pty, error))
                return;
        number = ++self->next_number;
        {
                /* what NSS says may hold anything: escaped, it cannot start a log line */
                g_autofree char *name = g_strescape (plan->user.name, NULL);
                g_autofree char *shell = g_strescape (plan->user.shell != NULL ? plan->user.shell : "", NULL);

                g_message ("login session %u: user '%s' (uid %u) on %s, shell %s, pid %d, connection %u", number,
                           name, (guint) plan->user.uid, pty.tty, shell, pty.pid,
                           phx_connection_get_id (call->connection));
        }
        ret = json_object_new ();
        json_object_set_int_member (ret, "session", number);
        json_object_set_int_member (ret, "pid", pty.pid);
        json_object_set_string_member (ret, "tty", pty.tty);
        session = phx_login_session_new (number, plan->user.name, &pty);
        g_hash_table_insert (self->sessions, GUINT_TO_POINTER (number), g_object_ref (session));
        g_signal_connect (session, "ended", G_CALLBACK (on_session_ended), self);
        *result = json_node_init_object (json_node_alloc (), ret);
        call->handover = hand_over;
        call->handover_data = session;
        call->handover_free = abandon;
}

static const PhxArgSpec login_args[] = {
        { "user", PHX_ARG_STRING, 0, .def.s = "root" },
        { "rows", PHX_ARG_INT, 0, .def.i = 24, .min = 1, .max = 65535 },
        { "cols", PHX_ARG_INT, 0, .def.i = 80, .min = 1, .max = 65535 },
        { "term", PHX_ARG_STRING, 0, .def.s = "vt220" },
        { NULL }
};

static const PhxCommand login_commands[] = {
        { "login", login_prepare, login_args, PHX_CMD_THREADED | PHX_CMD_TAKES_CONNECTION, .requires = "exec" },
        { NULL }
};

static const PhxFace login_faces[] = {
        { PHX_DIALECT_QGA, "__org.phoenixga_guest-login", "login", NULL, NULL, PHX_FACE_STRICT },
        { .name = NULL }
};

static void
phx_login_family_finalize (GObject *object)
{
        PhxLoginFamily *self = (PhxLoginFamily *) object;

        g_hash_table_unref (self->sessions);
        G_OBJECT_CLASS (phx_login_family_parent_class)->finalize (object);
}

static void
phx_login_family_class_init (PhxLoginFamilyClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = phx_login_family_finalize;
        PHX_FAMILY_CLASS (klass)->commands = login_commands;
        PHX_FAMILY_CLASS (klass)->faces = login_faces;
        PHX_FAMILY_CLASS (klass)->admit = login_admit;
        PHX_FAMILY_CLASS (klass)->finish = login_finish;
}

static void
phx_login_family_init (PhxLoginFamily *self)
{
        self->sessions = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
}
