/* phx-args.c — checks a request's `arguments` against a command's spec before the command
 * runs: types, required members, ranges, absolute paths, base64. Handlers only ever see
 * values that passed here. */
#define G_LOG_DOMAIN "phx-args"

#include <errno.h>
#include <string.h>

#include "phx-args.h"
#include "phx-base64.h"
#include "phx-error.h"

typedef struct {
        gboolean present;
        gint64 i;
        gboolean b;
        const char *s; /* the default, or `owned` */
        char *owned;
        GBytes *bytes;
        JsonNode *node; /* PHX_ARG_ARRAY, PHX_ARG_ANY */
        gsize node_size;
} ArgValue;

/* Holds copies of what the command needs and nothing of the request's JSON tree, so a
 * request that carried large unknown members costs only what it will use while it waits. */
struct _PhxArgs {
        const PhxArgSpec *spec;
        guint n;
        ArgValue *values;
};

void
phx_args_free (PhxArgs *args)
{
        if (args == NULL)
                return;
        for (guint i = 0; i < args->n; i++) {
                g_clear_pointer (&args->values[i].bytes, g_bytes_unref);
                g_clear_pointer (&args->values[i].node, json_node_unref);
                g_free (args->values[i].owned);
        }
        g_free (args->values);
        g_free (args);
}

static const char *
type_word (PhxArgType type)
{
        switch (type) {
        case PHX_ARG_INT: return "an integer";
        case PHX_ARG_BOOL: return "a boolean";
        case PHX_ARG_ARRAY: return "an array";
        case PHX_ARG_ANY: return "a value";
        case PHX_ARG_STRING:
        case PHX_ARG_PATH:
        case PHX_ARG_BASE64:
        default: return "a string";
        }
}

static gboolean
has_value_type (JsonNode *node, GType type)
{
        return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

/* qemu-ga's word for a type, as in "Invalid parameter type for 'id', expected: integer" */
static const char *
qapi_type_word (PhxArgType type)
{
        switch (type) {
        case PHX_ARG_INT: return "integer";
        case PHX_ARG_BOOL: return "boolean";
        case PHX_ARG_ARRAY: return "array";
        case PHX_ARG_ANY: return "value";
        case PHX_ARG_STRING:
        case PHX_ARG_PATH:
        case PHX_ARG_BASE64:
        default: return "string";
        }
}

/* What a kept node costs, roughly: for the memory budget, bounded by the request line. */
static gsize
node_size (JsonNode *node)
{
        gsize size = 64;

        if (JSON_NODE_HOLDS_ARRAY (node)) {
                JsonArray *arr = json_node_get_array (node);
                for (guint i = 0; i < json_array_get_length (arr); i++)
                        size += node_size (json_array_get_element (arr, i));
        } else if (JSON_NODE_HOLDS_OBJECT (node)) {
                JsonObjectIter iter;
                const char *member;
                JsonNode *value;

                json_object_iter_init (&iter, json_node_get_object (node));
                while (json_object_iter_next (&iter, &member, &value))
                        size += 64 + strlen (member) + node_size (value);
        } else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
                size += strlen (json_node_get_string (node));
        }
        return size;
}

static gboolean
has_type (const PhxArgSpec *s, JsonNode *node)
{
        switch (s->type) {
        case PHX_ARG_INT: return has_value_type (node, G_TYPE_INT64);
        case PHX_ARG_BOOL: return has_value_type (node, G_TYPE_BOOLEAN);
        case PHX_ARG_ARRAY: return JSON_NODE_HOLDS_ARRAY (node);
        case PHX_ARG_ANY: return !JSON_NODE_HOLDS_NULL (node);
        case PHX_ARG_STRING:
        case PHX_ARG_PATH:
        case PHX_ARG_BASE64:
        default: return has_value_type (node, G_TYPE_STRING);
        }
}

static gboolean
convert (const PhxArgSpec *s, JsonNode *node, ArgValue *v, PhxArgsMode mode, GError **error)
{
        if (!has_type (s, node)) {
                if (mode & PHX_ARGS_STRICT)
                        phx_error_set (error, EINVAL, "Invalid parameter type for '%s', expected: %s", s->name,
                                       qapi_type_word (s->type));
                else
                        phx_error_set (error, EINVAL, "argument '%s' must be %s", s->name, type_word (s->type));
                return FALSE;
        }
        switch (s->type) {
        case PHX_ARG_INT:
                v->i = json_node_get_int (node);
                if (s->max > s->min && (v->i < s->min || v->i > s->max)) {
                        phx_error_set (error, EINVAL,
                                       "argument '%s' is %" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT
                                       "..%" G_GINT64_FORMAT, s->name, v->i, s->min, s->max);
                        return FALSE;
                }
                break;
        case PHX_ARG_BOOL:
                v->b = json_node_get_boolean (node);
                break;
        case PHX_ARG_PATH:
                v->s = v->owned = json_node_dup_string (node);
                if (v->s[0] != '/') {
                        phx_error_set (error, EINVAL, "argument '%s' must be an absolute path, not '%s'",
                                       s->name, v->s);
                        return FALSE;
                }
                break;
        case PHX_ARG_STRING:
                v->s = v->owned = json_node_dup_string (node);
                break;
        case PHX_ARG_BASE64: {
                const char *text = json_node_get_string (node);
                v->bytes = phx_base64_decode (text, strlen (text), error);
                if (v->bytes == NULL) {
                        g_prefix_error (error, "argument '%s': ", s->name);
                        return FALSE;
                }
                break;
        }
        case PHX_ARG_ARRAY:
        case PHX_ARG_ANY:
                v->node = json_node_copy (node);
                v->node_size = node_size (node);
                break;
        }
        return TRUE;
}

static gboolean
in_spec (const PhxArgSpec *spec, const char *name)
{
        for (const PhxArgSpec *s = spec; s != NULL && s->name != NULL; s++) {
                if (g_str_equal (s->name, name))
                        return TRUE;
        }
        return FALSE;
}

PhxArgs *
phx_args_validate (const PhxArgSpec *spec, JsonObject *arguments, GError **error)
{
        return phx_args_validate_mode (spec, arguments, 0, error);
}

/* mode PHX_ARGS_STRICT is qemu-ga's: a null is a value of the wrong type (QAPI has no "null
 * means absent"), an unknown member is an error, and the texts are qemu-ga's, which its
 * clients match on. */
PhxArgs *
phx_args_validate_mode (const PhxArgSpec *spec, JsonObject *arguments, PhxArgsMode mode, GError **error)
{
        g_autoptr(PhxArgs) args = g_new0 (PhxArgs, 1);
        JsonObjectIter iter;
        const char *member;

        args->spec = spec;
        for (const PhxArgSpec *s = spec; s != NULL && s->name != NULL; s++)
                args->n++;
        args->values = g_new0 (ArgValue, args->n);

        for (guint i = 0; i < args->n; i++) {
                const PhxArgSpec *s = &spec[i];
                JsonNode *node = arguments != NULL ? json_object_get_member (arguments, s->name) : NULL;
                ArgValue *v = &args->values[i];

                /* null stands for "not given", as it does for most JSON APIs. */
                if (node == NULL || (JSON_NODE_HOLDS_NULL (node) && !(mode & PHX_ARGS_STRICT))) {
                        if (s->flags & PHX_ARG_REQUIRED) {
                                if (mode & PHX_ARGS_STRICT)
                                        phx_error_set (error, EINVAL, "Parameter '%s' is missing", s->name);
                                else
                                        phx_error_set (error, EINVAL, "missing required argument '%s'", s->name);
                                return NULL;
                        }
                        v->i = s->def.i;
                        v->b = s->def.b;
                        v->s = s->def.s;
                        continue;
                }
                if (!convert (s, node, v, mode, error))
                        return NULL;
                v->present = TRUE;
        }

        /* The original agent ignored members it did not know and hosts rely on that. */
        if (arguments == NULL)
                return g_steal_pointer (&args);
        json_object_iter_init (&iter, arguments);
        while (json_object_iter_next (&iter, &member, NULL)) {
                if (in_spec (spec, member))
                        continue;
                if (mode & PHX_ARGS_STRICT) {
                        phx_error_set (error, EINVAL, "Parameter '%s' is unexpected", member);
                        return NULL;
                }
                g_debug ("ignoring unknown argument '%s'", member);
        }
        return g_steal_pointer (&args);
}

/* A command reads its arguments by the names of its own spec; a second face of the command
 * (another dialect) may call them otherwise on the wire and name the command's in `as`. */
static const char *
internal_name (const PhxArgSpec *s)
{
        return s->as != NULL ? s->as : s->name;
}

static const ArgValue *
lookup (PhxArgs *args, const char *name, PhxArgType type)
{
        for (guint i = 0; i < args->n; i++) {
                if (g_str_equal (internal_name (&args->spec[i]), name)) {
                        g_return_val_if_fail (args->spec[i].type == type ||
                                      (type == PHX_ARG_ANY && args->spec[i].type == PHX_ARG_ARRAY) ||
                                              (type == PHX_ARG_STRING && args->spec[i].type == PHX_ARG_PATH),
                                              NULL);
                        return &args->values[i];
                }
        }
        g_return_val_if_reached (NULL);
}

/* Bytes held for the command (for the memory budget). */
gsize
phx_args_size (PhxArgs *args)
{
        gsize size = sizeof *args + args->n * sizeof (ArgValue);

        for (guint i = 0; i < args->n; i++) {
                if (args->values[i].owned != NULL)
                        size += strlen (args->values[i].owned) + 1;
                if (args->values[i].bytes != NULL)
                        size += g_bytes_get_size (args->values[i].bytes);
                size += args->values[i].node_size;
        }
        return size;
}

gboolean
phx_args_has (PhxArgs *args, const char *name)
{
        for (guint i = 0; i < args->n; i++) {
                if (g_str_equal (internal_name (&args->spec[i]), name))
                        return args->values[i].present;
        }
        return FALSE;
}

gint64
phx_args_get_int (PhxArgs *args, const char *name)
{
        const ArgValue *v = lookup (args, name, PHX_ARG_INT);
        return v != NULL ? v->i : 0;
}

gboolean
phx_args_get_bool (PhxArgs *args, const char *name)
{
        const ArgValue *v = lookup (args, name, PHX_ARG_BOOL);
        return v != NULL ? v->b : FALSE;
}

const char *
phx_args_get_string (PhxArgs *args, const char *name)
{
        const ArgValue *v = lookup (args, name, PHX_ARG_STRING);
        return v != NULL ? v->s : NULL;
}

GBytes *
phx_args_get_bytes (PhxArgs *args, const char *name)
{
        const ArgValue *v = lookup (args, name, PHX_ARG_BASE64);
        return v != NULL ? v->bytes : NULL;
}

JsonNode *
phx_args_get_node (PhxArgs *args, const char *name)
{
        const ArgValue *v = lookup (args, name, PHX_ARG_ANY);
        return v != NULL ? v->node : NULL;
}

/* For the table walk in the unit tests: a spec a family could get wrong. */
gboolean
phx_args_spec_check (const PhxArgSpec *spec, GError **error)
{
        for (const PhxArgSpec *s = spec; s != NULL && s->name != NULL; s++) {
                if (s->name[0] == '\0') {
                        phx_error_set (error, EINVAL, "empty argument name");
                        return FALSE;
                }
                if (s->max < s->min) {
                        phx_error_set (error, EINVAL, "argument '%s': max below min", s->name);
                        return FALSE;
                }
                if (s->type == PHX_ARG_INT && s->max > s->min && !(s->flags & PHX_ARG_REQUIRED) &&
                    (s->def.i < s->min || s->def.i > s->max)) {
                        phx_error_set (error, EINVAL, "argument '%s': default out of range", s->name);
                        return FALSE;
                }
                for (const PhxArgSpec *t = s + 1; t->name != NULL; t++) {
                        if (g_str_equal (s->name, t->name)) {
                                phx_error_set (error, EINVAL, "argument '%s' listed twice", s->name);
                                return FALSE;
                        }
                }
        }
        return TRUE;
}
