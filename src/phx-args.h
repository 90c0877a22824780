/* phx-args.h — argument specs and the validated, typed arguments a command receives. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
        PHX_ARG_INT,    /* JSON integer within [min, max] when max > min */
        PHX_ARG_BOOL,   /* JSON true/false */
        PHX_ARG_STRING, /* JSON string */
        PHX_ARG_PATH,   /* JSON string holding an absolute path */
        PHX_ARG_BASE64, /* JSON string of base64, validated and decoded to GBytes */
        PHX_ARG_ARRAY,  /* JSON array, kept as a node: the command checks its elements */
        PHX_ARG_ANY,    /* any JSON value but null, kept as a node (e.g. qemu-ga's seek whence,
                         * an integer or a name): the command checks it */
} PhxArgType;

typedef enum {
        PHX_ARG_REQUIRED = 1 << 0,
} PhxArgFlags;

typedef struct {
        const char *name;
        PhxArgType type;
        PhxArgFlags flags;
        union {
                gint64 i;
                gboolean b;
                const char *s;
        } def;
        gint64 min, max;
        const char *as; /* the name the command reads it by, when the wire name differs */
} PhxArgSpec;

typedef struct _PhxArgs PhxArgs;

typedef enum {
        PHX_ARGS_STRICT = 1 << 0, /* unknown members and null values are refused, in qemu-ga's words */
} PhxArgsMode;

PhxArgs *phx_args_validate (const PhxArgSpec *spec, JsonObject *arguments, GError **error);
PhxArgs *phx_args_validate_mode (const PhxArgSpec *spec, JsonObject *arguments, PhxArgsMode mode,
                                 GError **error);
void phx_args_free (PhxArgs *args);
gboolean phx_args_spec_check (const PhxArgSpec *spec, GError **error);

gsize phx_args_size (PhxArgs *args);
gboolean phx_args_has (PhxArgs *args, const char *name);
gint64 phx_args_get_int (PhxArgs *args, const char *name);
gboolean phx_args_get_bool (PhxArgs *args, const char *name);
const char *phx_args_get_string (PhxArgs *args, const char *name);
GBytes *phx_args_get_bytes (PhxArgs *args, const char *name);
JsonNode *phx_args_get_node (PhxArgs *args, const char *name); /* ARRAY and ANY; NULL if absent */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PhxArgs, phx_args_free)

G_END_DECLS
