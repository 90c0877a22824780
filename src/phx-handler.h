/* phx-handler.h — PhxHandler, the base class of a command family, and the types a family
 * uses to describe its commands: argument specs, command rows, the per-call context. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "phx-args.h"

G_BEGIN_DECLS

typedef struct _PhxAgent PhxAgent;
typedef struct _PhxFreezer PhxFreezer;
typedef struct _PhxFile PhxFile;
typedef struct _PhxCall PhxCall;

typedef enum {
        PHX_CMD_THREADED = 1 << 0,  /* runs in a worker thread (GTask) */
        PHX_CMD_FROZEN_OK = 1 << 1, /* allowed while filesystems are frozen */
        PHX_CMD_HANDLE = 1 << 2,    /* `handle_id` names an open file; calls on one handle are serialized */
        PHX_CMD_SERIAL = 1 << 3,    /* changes shared state: such commands run one at a time, in order */
} PhxCommandFlags;

typedef JsonNode *(*PhxCommandFunc) (PhxCall *call, GError **error);

typedef struct {
        const char *name;
        PhxCommandFunc func;
        const PhxArgSpec *args; /* NULL-name terminated; NULL for none */
        PhxCommandFlags flags;
} PhxCommand;

/* What a command sees. Worker threads may use everything but `agent`, which belongs to
 * the main thread (only inline commands touch it). */
struct _PhxCall {
        PhxAgent *agent;
        const PhxCommand *command;
        PhxArgs *args;
        PhxFile *file;   /* PHX_CMD_HANDLE: the handle, exclusively ours while we run */
        PhxFile *opened; /* set by file-open; the main thread files it under a new id */
        /* A large base64 result member: the handler returns an object whose first member
         * is `payload_member` and leaves its text here, to be spliced in unescaped. */
        const char *payload_member;
        GBytes *payload;
        PhxFreezer *freezer;  /* thread-safe; see phx-freezer.h */
        /* Cancelled when the host that asked goes away, the handle is closed or the
         * command's time runs out: long loops check it, blocking waits poll its fd. */
        GCancellable *cancellable;
        /* A threaded command that changes agent state leaves `apply` here: the dispatcher
         * runs it on the main thread when the command succeeded, before the reply. */
        void (*apply) (PhxCall *call);
        gpointer apply_data;
        GDestroyNotify apply_data_free;
};

#define PHX_TYPE_HANDLER (phx_handler_get_type ())
G_DECLARE_DERIVABLE_TYPE (PhxHandler, phx_handler, PHX, HANDLER, GObject)

struct _PhxHandlerClass {
        GObjectClass parent_class;
        const PhxCommand *commands; /* NULL-name terminated, set by the family's class_init */
};

const PhxCommand *phx_handler_get_commands (PhxHandler *self);

/* The families, one get_type per cmd-*.c; adding a family is one line in phx-handler.c. */
GType *phx_handler_family_types (guint *n_types);
gboolean phx_handler_command_known (const char *name);
gboolean phx_handler_command_essential (const char *name);
gboolean phx_handler_check_command_list (const char *const *names, gboolean blocking, GError **error);

GType phx_agent_handler_get_type (void);
GType phx_files_handler_get_type (void);
GType phx_paths_handler_get_type (void);
GType phx_sysinfo_handler_get_type (void);
GType phx_network_handler_get_type (void);
GType phx_freeze_handler_get_type (void);

/* A family's boilerplate: a final subclass of PhxHandler whose class holds `table`. */
#define PHX_DEFINE_HANDLER(TypeName, type_name, table)                                     \
        typedef struct {                                                                   \
                PhxHandler parent_instance;                                                \
        } TypeName;                                                                        \
        typedef struct {                                                                   \
                PhxHandlerClass parent_class;                                              \
        } TypeName##Class;                                                                 \
        G_DEFINE_TYPE (TypeName, type_name, PHX_TYPE_HANDLER)                              \
        static void type_name##_class_init (TypeName##Class *klass)                        \
        {                                                                                  \
                PHX_HANDLER_CLASS (klass)->commands = table;                               \
        }                                                                                  \
        static void type_name##_init (TypeName *self)                                      \
        {                                                                                  \
        }

G_END_DECLS
