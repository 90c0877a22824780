/* client.h — what phoenix-ga-client's files share: the call context, small helpers and
 * the subcommands each file provides. */
#pragma once

#include "client-conn.h"

G_BEGIN_DECLS

typedef struct {
        ClientConn *conn;
        gboolean json;
        gboolean timing; /* --timing: get/put print their transfer and verification times */
        int argc;
        char **argv; /* the subcommand's arguments, argv[0] is its name */
        int exit_status; /* what the client exits with when the subcommand succeeds (exec) */
} Ctx;

typedef gboolean (*SubFunc) (Ctx *ctx, GError **error);

JsonObject *client_args_new (void);
JsonObject *client_path_args (const char *path);
gboolean client_usage_error (GError **error, const char *usage);
gboolean client_bad_argument (GError **error, const char *subcommand, const char *format, ...) G_GNUC_PRINTF (3, 4);
gboolean client_want_octal (const char *subcommand, const char *what, const char *text, gint64 *out,
                            GError **error);
gboolean client_want_owner (const char *subcommand, const char *text, gint64 *uid, gint64 *gid, GError **error);
JsonNode *client_run (Ctx *ctx, const char *execute, JsonObject *arguments, GError **error);
void client_print_json (JsonNode *node);
gboolean client_parse_octal (const char *text, gint64 *out);
gboolean client_parse_owner (const char *text, gint64 *uid, gint64 *gid);

/* client-files.c */
gboolean sub_stat (Ctx *ctx, GError **error);
gboolean sub_ls (Ctx *ctx, GError **error);
gboolean sub_cat (Ctx *ctx, GError **error);
gboolean sub_get (Ctx *ctx, GError **error);
gboolean sub_put (Ctx *ctx, GError **error);
gboolean sub_mkdir (Ctx *ctx, GError **error);
gboolean sub_chmod (Ctx *ctx, GError **error);
gboolean sub_chown (Ctx *ctx, GError **error);
gboolean sub_md5 (Ctx *ctx, GError **error);
gboolean sub_hash (Ctx *ctx, GError **error);

/* client-accounts.c */
gboolean sub_passwd (Ctx *ctx, GError **error);
gboolean sub_ssh_keys (Ctx *ctx, GError **error);
gboolean sub_power (Ctx *ctx, GError **error);

/* client-exec.c */
gboolean sub_exec (Ctx *ctx, GError **error);

/* client-login.c */
gboolean sub_login (Ctx *ctx, GError **error);

/* client-complete.c */
gboolean sub_complete_path (Ctx *ctx, GError **error);

/* client-shell.c */
gboolean sub_shell (Ctx *ctx, GError **error);

/* client-network.c */
gboolean sub_ifaces (Ctx *ctx, GError **error);
gboolean sub_addr (Ctx *ctx, GError **error);
gboolean sub_link (Ctx *ctx, GError **error);
gboolean sub_routes (Ctx *ctx, GError **error);
gboolean sub_route (Ctx *ctx, GError **error);

G_END_DECLS
