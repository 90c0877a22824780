/* util-stat.c — serializes struct stat the way the original Go agent did (Linux x86-64
 * field names, padding members included), so existing host tools parse it unchanged. */
#define G_LOG_DOMAIN "util-stat"

#include "util-stat.h"

static JsonObject *
timespec_object (const struct timespec *ts)
{
        JsonObject *obj = json_object_new ();

        json_object_set_int_member (obj, "Sec", ts->tv_sec);
        json_object_set_int_member (obj, "Nsec", ts->tv_nsec);
        return obj;
}

JsonNode *
util_stat_to_json (const struct stat *st)
{
        g_autoptr(JsonObject) obj = json_object_new ();
        JsonArray *unused = json_array_sized_new (3);

        json_object_set_int_member (obj, "Dev", (gint64) st->st_dev);
        json_object_set_int_member (obj, "Ino", (gint64) st->st_ino);
        json_object_set_int_member (obj, "Nlink", (gint64) st->st_nlink);
        json_object_set_int_member (obj, "Mode", st->st_mode);
        json_object_set_int_member (obj, "Uid", st->st_uid);
        json_object_set_int_member (obj, "Gid", st->st_gid);
        json_object_set_int_member (obj, "X__pad0", 0);
        json_object_set_int_member (obj, "Rdev", (gint64) st->st_rdev);
        json_object_set_int_member (obj, "Size", st->st_size);
        json_object_set_int_member (obj, "Blksize", st->st_blksize);
        json_object_set_int_member (obj, "Blocks", st->st_blocks);
        json_object_set_object_member (obj, "Atim", timespec_object (&st->st_atim));
        json_object_set_object_member (obj, "Mtim", timespec_object (&st->st_mtim));
        json_object_set_object_member (obj, "Ctim", timespec_object (&st->st_ctim));
        for (guint i = 0; i < 3; i++)
                json_array_add_int_element (unused, 0);
        json_object_set_array_member (obj, "X__unused", unused);
        return json_node_init_object (json_node_alloc (), obj);
}

/* {"name", "isdir", "stat"}: one file-stat result or one directory-list entry. */
JsonNode *
util_stat_entry (const char *name, const struct stat *st)
{
        g_autoptr(JsonObject) obj = json_object_new ();

        json_object_set_string_member (obj, "name", name);
        json_object_set_boolean_member (obj, "isdir", S_ISDIR (st->st_mode));
        json_object_set_member (obj, "stat", util_stat_to_json (st));
        return json_node_init_object (json_node_alloc (), obj);
}
