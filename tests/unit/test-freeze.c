/* Freeze rules against a fake backend: which mounts, order, all-or-nothing, thaw order,
 * the marker, restore after a crash, the auto-thaw timer, held logs. No real FIFREEZE. */
#include <errno.h>

#include <glib/gstdio.h>

#include "phx-error.h"
#include "phx-freeze.h"
#include "phx-freezer.h"
#include "phx-log.h"

typedef struct {
        GPtrArray *mounts;   /* what list() returns */
        GHashTable *fail;    /* mountpoint -> errno for freeze */
        GString *journal;    /* "F/a T/a ..." */
        GHashTable *frozen;  /* currently frozen */
} Fake;

static GPtrArray *
fake_list (gpointer data, GError **error)
{
        Fake *f = data;
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        for (guint i = 0; i < f->mounts->len; i++)
                g_ptr_array_add (out, g_strdup (g_ptr_array_index (f->mounts, i)));
        return out;
}

static int
fake_freeze (const char *mp, gpointer data)
{
        Fake *f = data;
        int err = GPOINTER_TO_INT (g_hash_table_lookup (f->fail, mp));

        g_string_append_printf (f->journal, "F%s ", mp);
        if (err == 0)
                g_hash_table_add (f->frozen, g_strdup (mp));
        return err;
}

static int
fake_thaw (const char *mp, gpointer data)
{
        Fake *f = data;

        g_string_append_printf (f->journal, "T%s ", mp);
        return g_hash_table_remove (f->frozen, mp) ? 0 : EINVAL;
}

static void
fake_init (Fake *f, PhxFreezeBackend *b, const char *const *mounts)
{
        f->mounts = g_ptr_array_new_with_free_func (g_free);
        for (guint i = 0; mounts[i] != NULL; i++)
                g_ptr_array_add (f->mounts, g_strdup (mounts[i]));
        f->fail = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        f->journal = g_string_new (NULL);
        f->frozen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        *b = (PhxFreezeBackend) { fake_list, fake_freeze, fake_thaw, f };
}

static void
fake_clear (Fake *f)
{
        g_ptr_array_unref (f->mounts);
        g_hash_table_unref (f->fail);
        g_string_free (f->journal, TRUE);
        g_hash_table_unref (f->frozen);
}

static char *
fake_dev_name (const char *majmin)
{
        if (g_str_equal (majmin, "7:0"))
                return g_strdup ("loop0");
        if (g_str_equal (majmin, "253:0"))
                return g_strdup ("dm-0");
        if (g_str_equal (majmin, "9:9"))
                return NULL;
        return g_strdup_printf ("vd%s", majmin);
}

static void
test_candidates (void)
{
        const char *mountinfo =
                "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
                "23 22 0:5 / /proc rw - proc proc rw\n"
                "24 22 254:2 / /data rw master:3 - xfs /dev/vdb rw\n"
                "25 22 254:2 /sub /bind rw - xfs /dev/vdb rw\n"          /* bind mount of /data */
                "26 22 7:0 / /mnt/loop rw - ext4 /dev/loop0 rw\n"
                "27 22 253:0 / /mnt/dm rw - ext4 /dev/mapper/vg-lv rw\n"
                "28 22 0:50 / /mnt/nfs rw - nfs4 server:/export rw\n"
                "29 22 254:3 / /mnt/fuse rw - fuse.sshfs /dev/fuse rw\n"
                "30 22 254:4 / /mnt/with\\040space rw - ext4 /dev/vdc rw\n"
                "31 22 9:9 / /mnt/gone rw - ext4 /dev/vdz rw\n"
                "garbage line\n";
        g_autoptr(GPtrArray) c = phx_freeze_candidates (mountinfo, fake_dev_name);

        g_assert_cmpuint (c->len, ==, 3);
        g_assert_cmpstr (c->pdata[0], ==, "/");
        g_assert_cmpstr (c->pdata[1], ==, "/data");
        g_assert_cmpstr (c->pdata[2], ==, "/mnt/with space");
}

static void
test_freeze_all_or_nothing (void)
{
        const char *const mounts[] = { "/a", "/b", "/c", "/d", NULL };
        Fake f;
        PhxFreezeBackend b;
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) list = NULL;
        g_autoptr(GPtrArray) frozen = NULL;

        fake_init (&f, &b, mounts);
        g_hash_table_insert (f.fail, g_strdup ("/c"), GINT_TO_POINTER (EIO));
        list = fake_list (&f, NULL);
        frozen = phx_freeze_all (&b, list, &error);
        g_assert_null (frozen);
        g_assert_error (error, PHX_ERROR, EIO);
        g_assert_cmpstr (error->message, ==, "freeze /c: Input/output error");
        /* /a and /b were thawed again, newest first, and /d was never touched */
        g_assert_cmpstr (f.journal->str, ==, "F/a F/b F/c T/b T/a ");
        g_assert_cmpuint (g_hash_table_size (f.frozen), ==, 0);
        fake_clear (&f);
}

static void
test_freeze_skips_unsupported_and_busy (void)
{
        const char *const mounts[] = { "/a", "/b", "/c", NULL };
        Fake f;
        PhxFreezeBackend b;
        g_autoptr(GPtrArray) list = NULL;
        g_autoptr(GPtrArray) frozen = NULL;
        g_autoptr(GError) error = NULL;

        fake_init (&f, &b, mounts);
        g_hash_table_insert (f.fail, g_strdup ("/a"), GINT_TO_POINTER (EOPNOTSUPP));
        g_hash_table_insert (f.fail, g_strdup ("/b"), GINT_TO_POINTER (EBUSY));
        list = fake_list (&f, NULL);
        frozen = phx_freeze_all (&b, list, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (frozen->len, ==, 1);
        g_assert_cmpstr (frozen->pdata[0], ==, "/c");
        /* thaw: reverse order, EINVAL (not frozen) is fine */
        g_ptr_array_insert (frozen, 0, g_strdup ("/x"));
        g_string_truncate (f.journal, 0);
        g_assert_true (phx_thaw_all (&b, frozen, &error));
        g_assert_cmpstr (f.journal->str, ==, "T/c T/x ");
        fake_clear (&f);
}

static int
thaw_fails_for_b (const char *mp, gpointer data)
{
        if (g_str_equal (mp, "/b"))
                return EIO;
        return fake_thaw (mp, data);
}

static void
test_thaw_goes_on_past_failures (void)
{
        const char *const mounts[] = { "/a", "/b", "/c", NULL };
        Fake f;
        PhxFreezeBackend b;
        g_autoptr(GPtrArray) list = NULL;
        g_autoptr(GError) error = NULL;

        fake_init (&f, &b, mounts);
        b.thaw = thaw_fails_for_b;
        list = fake_list (&f, NULL);
        g_ptr_array_unref (phx_freeze_all (&b, list, NULL));
        g_assert_false (phx_thaw_all (&b, list, &error));
        g_assert_error (error, PHX_ERROR, EIO);
        g_assert_cmpuint (g_hash_table_size (f.frozen), ==, 1); /* only /b stays */
        fake_clear (&f);
}

static void
thaw_when_due (PhxFreezer *fr, gpointer user_data)
{
        g_assert_true (phx_freezer_thaw_now (fr, NULL));
}

static void
test_freezer_marker_restore_and_timer (void)
{
        const char *const mounts[] = { "/a", "/b", NULL };
        g_autofree char *dir = g_dir_make_tmp ("phx-freeze-XXXXXX", NULL);
        g_autofree char *marker = g_build_filename (dir, "run", "frozen", NULL);
        g_autofree char *run = g_build_filename (dir, "run", NULL);
        g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        PhxFreezeBackend b;
        Fake f;

        fake_init (&f, &b, mounts);
        {
                g_autoptr(PhxFreezer) fr = phx_freezer_new (&b, NULL, run, 0);
                GPtrArray *frozen = phx_freezer_freeze (fr, &error);
                g_assert_no_error (error);
                g_assert_true (g_file_get_contents (marker, &text, NULL, NULL));
                g_assert_cmpstr (text, ==, "/a\n/b\n");
                phx_freezer_set_frozen (fr, frozen);
                g_assert_true (phx_freezer_get_frozen (fr));
                g_assert_cmpint (phx_freezer_get_frozen_since (fr), >, 0);
                /* logs are held while frozen */
                g_message ("held while frozen");
                g_assert_cmpuint (phx_log_get_held_count (), ==, 1);
                /* the agent "crashes" here: the object goes, the marker stays */
                g_object_run_dispose (G_OBJECT (fr));
        }
        phx_log_set_held (FALSE);
        g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
        {
                /* a new agent finds the marker, reports frozen, and its timer thaws */
                g_autoptr(PhxFreezer) fr = phx_freezer_new (&b, NULL, run, 1);
                g_assert_true (phx_freezer_restore (fr, &error));
                g_assert_true (phx_freezer_get_frozen (fr));
                /* the timer says a thaw is due; the freeze lane's owner thaws (here: us) */
                g_signal_connect (fr, "thaw-due", G_CALLBACK (thaw_when_due), NULL);
                g_signal_connect_swapped (fr, "notify::frozen", G_CALLBACK (g_main_loop_quit), loop);
                g_main_loop_run (loop);
                g_assert_false (phx_freezer_get_frozen (fr));
                g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
                g_assert_cmpuint (g_hash_table_size (f.frozen), ==, 0);
                g_assert_cmpuint (phx_log_get_held_count (), ==, 0);
        }
        g_rmdir (run);
        g_rmdir (dir);
        fake_clear (&f);
}

static void
test_freeze_hook (void)
{
        g_autofree char *dir = g_dir_make_tmp ("phx-hook-XXXXXX", NULL);
        g_autofree char *hook = g_build_filename (dir, "hook", NULL);
        g_autofree char *log = g_build_filename (dir, "log", NULL);
        g_autofree char *script = g_strdup_printf ("#!/bin/sh\necho \"$1\" >> %s\n[ \"$1\" != fail ]\n", log);
        g_autofree char *slow = g_build_filename (dir, "slow", NULL);
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true (g_file_set_contents (hook, script, -1, NULL));
        g_chmod (hook, 0755);
        g_assert_true (phx_freeze_run_hook (hook, "freeze", 5, &error));
        g_assert_false (phx_freeze_run_hook (hook, "fail", 5, &error));
        g_assert_nonnull (strstr (error->message, "failed (exit status 1)"));
        g_clear_error (&error);
        g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
        g_assert_cmpstr (text, ==, "freeze\nfail\n");
        g_assert_true (g_file_set_contents (slow, "#!/bin/sh\nsleep 30\n", -1, NULL));
        g_chmod (slow, 0755);
        g_assert_false (phx_freeze_run_hook (slow, "freeze", 1, &error));
        g_assert_error (error, PHX_ERROR, ETIMEDOUT);
        g_clear_error (&error);
        g_assert_false (phx_freeze_run_hook ("/nonexistent/hook", "freeze", 1, &error));
        g_unlink (hook);
        g_unlink (log);
        g_unlink (slow);
        g_rmdir (dir);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        phx_log_install ();
        g_test_add_func ("/freeze/candidates", test_candidates);
        g_test_add_func ("/freeze/all-or-nothing", test_freeze_all_or_nothing);
        g_test_add_func ("/freeze/skips-unsupported-and-busy", test_freeze_skips_unsupported_and_busy);
        g_test_add_func ("/freeze/thaw-goes-on", test_thaw_goes_on_past_failures);
        g_test_add_func ("/freeze/marker-restore-timer", test_freezer_marker_restore_and_timer);
        g_test_add_func ("/freeze/hook", test_freeze_hook);
        return g_test_run ();
}
