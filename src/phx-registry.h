/* phx-registry.h — PhxRegistry: every command the agent knows, under each name it answers to,
 * which of them are enabled, and the one way from a request line to a prepared call. */
#pragma once

#include <glib-object.h>

#include "phx-family.h"

G_BEGIN_DECLS

typedef struct {
        PhxDialect dialect;
        const char *name;          /* as the host writes it */
        const PhxCommand *command; /* the implementation */
        const PhxArgSpec *args;    /* how this face's arguments are checked */
        PhxReplyAdapter reply;     /* NULL: the command's result as it is */
        PhxFaceFlags flags;
        GType family;
} PhxEntry;

/* A request line, parsed, looked up, checked: what the dispatcher runs. */
typedef struct {
        PhxDialect dialect;
        char *tag;      /* the Phoenix reply tag: "" when absent or unreadable */
        char *name;     /* the command as the host wrote it, NULL if unreadable */
        JsonNode *id;   /* qemu-ga: the request's `id`, echoed verbatim; NULL when absent */
        const PhxEntry *entry;
        PhxArgs *args;
} PhxPrepared;

void phx_prepared_clear (PhxPrepared *prepared);

#define PHX_TYPE_REGISTRY (phx_registry_get_type ())
G_DECLARE_FINAL_TYPE (PhxRegistry, phx_registry, PHX, REGISTRY, GObject)

/* Which dialects a port serves (the `dialect` setting): a set of 1 << PhxDialect. */
#define PHX_DIALECTS_ALL ((1u << PHX_N_DIALECTS) - 1)

gboolean phx_dialects_from_string (const char *text, guint *dialects);
const char *phx_dialects_to_string (guint dialects);

PhxRegistry *phx_registry_new (void);
void phx_registry_set_dialects (PhxRegistry *self, guint dialects);
gboolean phx_registry_add_faces (PhxRegistry *self, GType family, const PhxFace *faces, GError **error);
const PhxEntry *phx_registry_lookup (PhxRegistry *self, PhxDialect dialect, const char *name);
gboolean phx_registry_set_enabled (PhxRegistry *self, const char *const *allow, const char *const *block,
                                   GError **error);
gboolean phx_registry_is_enabled (PhxRegistry *self, const PhxEntry *entry);
GPtrArray *phx_registry_list (PhxRegistry *self, PhxDialect dialect, gboolean enabled_only);
gboolean phx_registry_prepare (PhxRegistry *self, const char *line, gsize len, PhxPrepared *out,
                               GError **error);

gboolean phx_registry_command_essential (const char *name);
gboolean phx_registry_check_command_list (const char *const *names, gboolean blocking, GError **error);

G_END_DECLS
