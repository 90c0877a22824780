/* cmd-accounts.c — guest users' passwords and SSH keys: set-user-password and the
 * ssh-*-authorized-keys commands, and qemu-ga's guest-set-user-password and
 * guest-ssh-*-authorized-keys as their faces. The work is in accounts-password.c (the guest's
 * chpasswd) and accounts-keys.c (the keys file, as its user). Changes run one at a time in the
 * family's lane, so that two edits of one file cannot lose each other's keys. */
#define G_LOG_DOMAIN "cmd-accounts"

#include <errno.h>

#include "accounts-keys.h"
#include "accounts-password.h"
#include "phx-error.h"
#include "phx-family.h"

static JsonNode *
set_user_password (PhxCall *call, GError **error)
{
        if (!phx_password_set (phx_args_get_string (call->args, "username"), phx_args_get_bytes (call->args, "password"),
                               phx_args_get_bool (call->args, "crypted"), call->cancellable, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static JsonNode *
ssh_get_keys (PhxCall *call, GError **error)
{
        g_autoptr(GPtrArray) keys = phx_keys_read (phx_args_get_string (call->args, "username"), FALSE, error);
        g_autoptr(JsonArray) arr = NULL;
        JsonObject *ret;

        if (keys == NULL)
                return NULL;
        arr = json_array_sized_new (keys->len);
        for (guint i = 0; i < keys->len; i++)
                json_array_add_string_element (arr, g_ptr_array_index (keys, i));
        ret = json_object_new ();
        json_object_set_array_member (ret, "keys", g_steal_pointer (&arr));
        return json_node_init_object (json_node_alloc (), ret);
}

/* the `keys` argument: an array of valid keys, in qemu-ga's words when it is not */
static GPtrArray *
keys_argument (PhxCall *call, GError **error)
{
        JsonArray *arr = json_node_get_array (phx_args_get_node (call->args, "keys"));
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);

        for (guint i = 0; i < json_array_get_length (arr); i++) {
                JsonNode *e = json_array_get_element (arr, i);
                if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING) {
                        phx_error_set (error, EINVAL, "Invalid parameter type for 'keys[%u]', expected: string", i);
                        return NULL;
                }
                g_autofree char *key = g_strstrip (g_strdup (json_node_get_string (e)));

                /* blank: skipped (virsh set-user-sshkeys sends the empty text after its
                 * file's last newline) */
                if (key[0] == '\0')
                        continue;
                if (!phx_keys_check (key, error))
                        return NULL;
                g_ptr_array_add (keys, g_steal_pointer (&key));
        }
        return g_steal_pointer (&keys);
}

static gboolean
contains (GPtrArray *lines, const char *key)
{
        for (guint i = 0; i < lines->len; i++) {
                if (g_str_equal (g_ptr_array_index (lines, i), key))
                        return TRUE;
        }
        return FALSE;
}

static JsonNode *
ssh_add_keys (PhxCall *call, GError **error)
{
        const char *user = phx_args_get_string (call->args, "username");
        g_autoptr(GPtrArray) keys = keys_argument (call, error);
        g_autoptr(GPtrArray) lines = NULL;

        if (keys == NULL)
                return NULL;
        lines = phx_args_get_bool (call->args, "reset") ? g_ptr_array_new_with_free_func (g_free)
                                                       : phx_keys_read (user, TRUE, error);
        if (lines == NULL)
                return NULL;
        for (guint i = 0; i < keys->len; i++) {
                if (!contains (lines, g_ptr_array_index (keys, i)))
                        g_ptr_array_add (lines, g_strdup (g_ptr_array_index (keys, i)));
        }
        if (!phx_keys_write (user, lines, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

/* A key that is not there is not an error (qemu-ga agrees); no file is created for nothing. */
static JsonNode *
ssh_remove_keys (PhxCall *call, GError **error)
{
        const char *user = phx_args_get_string (call->args, "username");
        g_autoptr(GPtrArray) keys = keys_argument (call, error);
        g_autoptr(GPtrArray) lines = NULL;
        guint before;

        if (keys == NULL)
                return NULL;
        lines = phx_keys_read (user, TRUE, error);
        if (lines == NULL)
                return NULL;
        before = lines->len;
        for (guint i = lines->len; i > 0; i--) {
                if (contains (keys, g_ptr_array_index (lines, i - 1)))
                        g_ptr_array_remove_index (lines, i - 1);
        }
        if (lines->len != before && !phx_keys_write (user, lines, error))
                return NULL;
        return json_node_init_boolean (json_node_alloc (), TRUE);
}

static const PhxArgSpec password_args[] = {
        { "username", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "password", PHX_ARG_BASE64, PHX_ARG_REQUIRED },
        { "crypted", PHX_ARG_BOOL, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec user_args[] = {
        { "username", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxArgSpec add_args[] = {
        { "username", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "keys", PHX_ARG_ARRAY, PHX_ARG_REQUIRED },
        { "reset", PHX_ARG_BOOL, 0, .def.b = FALSE },
        { NULL }
};

static const PhxArgSpec remove_args[] = {
        { "username", PHX_ARG_STRING, PHX_ARG_REQUIRED },
        { "keys", PHX_ARG_ARRAY, PHX_ARG_REQUIRED },
        { NULL }
};

static const PhxCommand accounts_commands[] = {
        { "set-user-password", set_user_password, password_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "ssh-get-authorized-keys", ssh_get_keys, user_args, PHX_CMD_THREADED | PHX_CMD_FROZEN_OK },
        { "ssh-add-authorized-keys", ssh_add_keys, add_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { "ssh-remove-authorized-keys", ssh_remove_keys, remove_args, PHX_CMD_THREADED | PHX_CMD_SERIAL },
        { NULL }
};

static const PhxFace accounts_faces[] = {
        { PHX_DIALECT_QGA, "guest-set-user-password", "set-user-password", NULL, phx_face_no_value, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-ssh-get-authorized-keys", "ssh-get-authorized-keys", NULL, NULL, PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-ssh-add-authorized-keys", "ssh-add-authorized-keys", NULL, phx_face_no_value,
          PHX_FACE_STRICT },
        { PHX_DIALECT_QGA, "guest-ssh-remove-authorized-keys", "ssh-remove-authorized-keys", NULL, phx_face_no_value,
          PHX_FACE_STRICT },
        { .name = NULL }
};

PHX_DEFINE_STATELESS_FAMILY_WITH_FACES (PhxAccountsFamily, phx_accounts_family, accounts_commands, accounts_faces)
