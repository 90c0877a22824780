/* phx-family.h — PhxFamily, the base class of a command family, and what a family describes
 * its commands with: command rows, argument specs, second faces, the per-call context. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "phx-args.h"
#include "phx-lane.h"

G_BEGIN_DECLS

typedef struct _PhxCall PhxCall;
typedef struct _PhxConnection PhxConnection;

typedef enum {
        PHX_CMD_THREADED = 1 << 0,  /* runs in a worker thread (GTask) */
        PHX_CMD_FROZEN_OK = 1 << 1, /* allowed while filesystems are frozen or being frozen */
        PHX_CMD_LONG = 1 << 2,      /* may take unbounded time (I/O on handles, hashing, listing):
                                     * runs in the pool of its own kind, see PHX_WORKERS_LONG */
        PHX_CMD_SERIAL = 1 << 3,    /* changes the family's shared state: its commands so flagged
                                     * run one at a time, in order, in the family's own lane */
        PHX_CMD_FACE_ONLY = 1 << 4, /* no Phoenix name: only its faces (another dialect's names)
                                     * reach it, e.g. qemu-ga's guest-sync */
        PHX_CMD_TAKES_CONNECTION = 1 << 5, /* on success its connection becomes a stream after the
                                            * reply (the call's `handover`): it must be the only
                                            * request in flight on it, e.g. login */
} PhxCommandFlags;

typedef JsonNode *(*PhxCommandFunc) (PhxCall *call, GError **error);

typedef struct {
        const char *name;
        PhxCommandFunc func;
        const PhxArgSpec *args; /* NULL-name terminated; NULL for none */
        PhxCommandFlags flags;
        guint family_flags;     /* meaning up to the family (e.g. "acts on a handle") */
        /* Bytes of reply a run will produce, charged to the budget before it starts, so
         * that commands queued behind one another cannot pile up replies nobody reads. */
        gsize (*reply_estimate) (PhxArgs *args);
        /* The row (a Phoenix name) this one needs: it is disabled wherever that one is, in
         * each dialect (login needs exec). NULL for none. */
        const char *requires;
} PhxCommand;

typedef enum {
        PHX_DIALECT_PHOENIX,
        PHX_DIALECT_QGA, /* qemu-ga's QMP dialect, see doc/protocol.md "qemu-ga dialect" */
        PHX_N_DIALECTS,
} PhxDialect;

/* A second face of a command: the same implementation under another name, argument names
 * (PhxArgSpec.as maps them onto the command's own) and reply shape. */
typedef JsonNode *(*PhxReplyAdapter) (JsonNode *result); /* takes ownership */

typedef enum {
        PHX_FACE_STRICT = 1 << 0,    /* unknown arguments are refused (qemu-ga does), not ignored */
        PHX_FACE_DELIMITED = 1 << 1, /* the reply is preceded by one 0xFF byte (guest-sync-delimited) */
        /* qemu-ga's `success-response: false`: on success nothing at all is sent (the host
         * waits for the event the command causes, e.g. SUSPEND); an error is still answered */
        PHX_FACE_NO_SUCCESS_REPLY = 1 << 2,
} PhxFaceFlags;

typedef struct {
        PhxDialect dialect;
        const char *name;
        const char *command;    /* the row implementing it */
        const PhxArgSpec *args; /* NULL: the row's own */
        PhxReplyAdapter reply;  /* NULL: the result as it is */
        PhxFaceFlags flags;
} PhxFace;

typedef struct _PhxFamily PhxFamily;

/* Takes a connection over once the reply of a PHX_CMD_TAKES_CONNECTION command is queued
 * (the connection may have closed meanwhile). Owns data from then on. */
typedef void (*PhxHandover) (gpointer data, PhxConnection *connection);

/* What a command sees. A worker thread may use all of it but `family`'s main-thread state. */
struct _PhxCall {
        PhxFamily *family;
        const PhxCommand *command;
        PhxArgs *args;
        /* Cancelled when the host that asked leaves, or when a file-close on the same handle
         * arrives: long loops check it, waits on pipes and devices poll its fd. NULL for
         * commands that run inline. */
        GCancellable *cancellable;
        PhxConnection *connection;  /* NULL for the agent's own calls (a thaw from D-Bus) */
        PhxDialect dialect;         /* the request's: a row that two faces share may owe each
                                     * its own words (qemu-ga's texts) or steps */
        PhxLane *lane;              /* set by the family's admit: runs one at a time in it */
        gpointer family_data;       /* the family's per-call state */
        GDestroyNotify family_data_free;
        /* A large base64 result member: the command returns an object whose first member
         * is `payload_member` and leaves its text here, to be spliced in unescaped. */
        const char *payload_member;
        GBytes *payload;
        /* Set by a PHX_CMD_TAKES_CONNECTION family's finish on success; data is freed with
         * handover_free if the call ends without handing over. */
        PhxHandover handover;
        gpointer handover_data;
        GDestroyNotify handover_free;
};

#define PHX_TYPE_FAMILY (phx_family_get_type ())
G_DECLARE_DERIVABLE_TYPE (PhxFamily, phx_family, PHX, FAMILY, GObject)

/* The steps a family takes on the main thread around its commands. Each may be NULL. */
struct _PhxFamilyClass {
        GObjectClass parent_class;
        const PhxCommand *commands; /* NULL-name terminated */
        const PhxFace *faces;       /* NULL-name terminated, or NULL */
        /* In arrival order, before anything runs: refuse, reserve, or choose a lane. The
         * default puts PHX_CMD_SERIAL rows in the family's lane; an override chains up. */
        gboolean (*admit) (PhxFamily *self, PhxCall *call, GError **error);
        /* Right before the command runs (after its lane let it through): last checks. */
        gboolean (*start) (PhxFamily *self, PhxCall *call, GError **error);
        /* After the command (or after admit/start refused it): record its effects, release
         * what admit reserved; may replace the result or set an error for the reply. */
        void (*finish) (PhxFamily *self, PhxCall *call, JsonNode **result, GError **error);
};

PhxLane *phx_family_get_lane (PhxFamily *self);

/* The families, one get_type per cmd-*.c; adding a family is one line in phx-family.c. */
const GType *phx_family_types (guint *n_types);

GType phx_agent_family_get_type (void);
GType phx_files_family_get_type (void);
GType phx_paths_family_get_type (void);
GType phx_sysinfo_family_get_type (void);
GType phx_network_family_get_type (void);
GType phx_freeze_family_get_type (void);
GType phx_exec_family_get_type (void);
GType phx_login_family_get_type (void);
GType phx_accounts_family_get_type (void);
GType phx_storage_family_get_type (void);
GType phx_power_family_get_type (void);
GType phx_cpumem_family_get_type (void);

/* qemu-ga's faces of commands that return nothing: `{}` (it takes ownership). */
JsonNode *phx_face_no_value (JsonNode *result);

/* A stateless family: a final subclass of PhxFamily whose class holds `table` and the
 * second faces `face_table` (NULL for none). */
#define PHX_DEFINE_STATELESS_FAMILY(TypeName, type_name, table)                            \
        PHX_DEFINE_STATELESS_FAMILY_WITH_FACES (TypeName, type_name, table, NULL)
#define PHX_DEFINE_STATELESS_FAMILY_WITH_FACES(TypeName, type_name, table, face_table)     \
        typedef struct {                                                                   \
                PhxFamily parent_instance;                                                 \
        } TypeName;                                                                        \
        typedef struct {                                                                   \
                PhxFamilyClass parent_class;                                               \
        } TypeName##Class;                                                                 \
        G_DEFINE_TYPE (TypeName, type_name, PHX_TYPE_FAMILY)                               \
        static void type_name##_class_init (TypeName##Class *klass)                        \
        {                                                                                  \
                PHX_FAMILY_CLASS (klass)->commands = table;                                \
                PHX_FAMILY_CLASS (klass)->faces = face_table;                              \
        }                                                                                  \
        static void type_name##_init (TypeName *self)                                      \
        {                                                                                  \
        }

G_END_DECLS
