/* Freeze rules against a fake backend: which mounts and in which order (stacked devices),
 * all-or-nothing, thaw order, the marker (its modes, where it may live), restore after a
 * crash, the auto-thaw timer, held logs, the hook's environment. No real FIFREEZE. */
#include <errno.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "phx-error.h"
#include "phx-freeze-backend.h"
#include "phx-freeze-hook.h"
#include "phx-freeze-plan.h"
#include "phx-freeze-state.h"
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

/* A synthetic block layer: device names, what each is built on, loop backing files. */
static const char *const fake_lower[][2] = {
        { "vda1", "vda" },   { "vda2", "vda" },   { "dm-0", "vda2" },  { "dm-1", "loop1" },
        { NULL, NULL },
};
static const char *const fake_backing[][2] = {
        { "loop0", "/data/images/loop0.img" },
        { "loop1", "/bindvar/lib/secret.img (deleted)\n" },
        { "loop2", "/mnt/secret/inner.img\n" },
        { "loop3", "/mnt/four/three.img" },
        { "loop4", "/mnt/three/four.img" },
        { NULL, NULL },
};

static char *
fake_dev_name (const char *majmin, const char *source)
{
        if (g_str_has_prefix (majmin, "7:"))
                return g_strdup_printf ("loop%s", majmin + 2);
        if (g_str_has_prefix (majmin, "253:"))
                return g_strdup_printf ("dm-%s", majmin + 4);
        if (g_str_equal (majmin, "9:9"))
                return NULL; /* the device went away */
        if (g_str_has_prefix (majmin, "0:"))
                /* btrfs: an anonymous superblock device; the node names the disk */
                return g_str_has_prefix (source, "/dev/vd") ? g_strdup (source + 5) : NULL;
        return g_strdup_printf ("vd%s", majmin);
}

static GStrv
fake_lower_of (const char *name)
{
        g_autoptr(GStrvBuilder) b = g_strv_builder_new ();

        for (guint i = 0; fake_lower[i][0] != NULL; i++) {
                if (g_str_equal (fake_lower[i][0], name))
                        g_strv_builder_add (b, fake_lower[i][1]);
        }
        return g_strv_builder_end (b);
}

static char *
fake_backing_file (const char *name)
{
        for (guint i = 0; fake_backing[i][0] != NULL; i++) {
                if (g_str_equal (fake_backing[i][0], name))
                        return g_strdup (fake_backing[i][1]);
        }
        return NULL;
}

static const PhxBlockOps fake_ops = { fake_dev_name, fake_lower_of, fake_backing_file };

static void
assert_order (GPtrArray *got, const char *const *want)
{
        g_autoptr(GString) g = g_string_new (NULL);
        g_autofree char *w = g_strjoinv (" ", (char **) want);

        for (guint i = 0; i < got->len; i++)
                g_string_append_printf (g, "%s%s", i ? " " : "", (char *) g_ptr_array_index (got, i));
        g_assert_cmpstr (g->str, ==, w);
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
                "32 22 0:45 /@home /home rw - btrfs /dev/vdd rw\n"
                "33 22 0:45 /@srv /srv rw - btrfs /dev/vdd rw\n"         /* same btrfs, other subvolume */
                "34 22 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"
                "35 22 254:1 / /mnt/again rw - ext4 /dev/vda1 rw\n"      /* the root fs mounted twice */
                "garbage line\n";
        const char *const want[] = { "/home", "/mnt/with space", "/mnt/dm", "/mnt/loop", "/data", "/", NULL };
        g_autoptr(GPtrArray) c = phx_freeze_candidates (mountinfo, &fake_ops);

        /* loop and dm included; latest mount first (the loop image on /data before /data) */
        assert_order (c, want);
}

/* The mount order says the opposite of the stacking: the file-backed filesystems must still
 * be frozen before the filesystems that hold their files, through dm, bind mounts and a
 * deleted backing file, and two levels deep. */
static void
test_candidates_follow_the_stack (void)
{
        const char *mountinfo =
                "20 1 254:1 / / rw - ext4 /dev/vda1 rw\n"
                "21 20 7:2 / /mnt/deep rw - ext4 /dev/loop2 rw\n"        /* file on /mnt/secret */
                "22 20 253:0 / /var rw - ext4 /dev/mapper/vg-var rw\n"   /* LVM on vda2 */
                /* LUKS on loop1, whose file is on /var */
                "23 20 253:1 / /mnt/secret rw - ext4 /dev/mapper/secret rw\n"
                "24 20 253:0 / /bindvar rw - ext4 /dev/mapper/vg-var rw\n"
                "25 20 254:9 / /database rw - ext4 /dev/vdi rw\n";      /* /data... is not /database */
        const char *const want[] = { "/database", "/mnt/deep", "/mnt/secret", "/var", "/", NULL };
        g_autoptr(GPtrArray) c = phx_freeze_candidates (mountinfo, &fake_ops);

        assert_order (c, want);
}

/* Stacking cannot make a cycle, but sysfs is read piecemeal: every filesystem is still listed,
 * what waits for nobody first, then the cycle in reverse mount order. */
static void
test_candidates_cycle (void)
{
        const char *mountinfo =
                "20 1 254:1 / / rw - ext4 /dev/vda1 rw\n"
                "21 20 7:3 / /mnt/three rw - ext4 /dev/loop3 rw\n"
                "22 20 7:4 / /mnt/four rw - ext4 /dev/loop4 rw\n";
        const char *const want[] = { "/", "/mnt/four", "/mnt/three", NULL };
        g_autoptr(GPtrArray) c = phx_freeze_candidates (mountinfo, &fake_ops);

        assert_order (c, want);
}

/* qemu-ga's freeze-list: exact mountpoint strings; a listed bind mount is frozen through its
 * own path even when the filesystem's first mount is not listed; unknown and non-canonical
 * paths match nothing; a filesystem listed twice (two of its mounts) is frozen once. */
static void
test_candidates_only (void)
{
        const char *mountinfo =
                "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
                "24 22 254:2 / /data rw master:3 - xfs /dev/vdb rw\n"
                "25 22 254:2 /sub /bind rw - xfs /dev/vdb rw\n"
                "26 22 7:0 / /mnt/loop rw - ext4 /dev/loop0 rw\n"
                "35 22 254:1 / /mnt/again rw - ext4 /dev/vda1 rw\n";
        const char *const only[] = { "/bind", "/mnt/loop/", "/nope", "/", "/mnt/again", NULL };
        const char *const want[] = { "/bind", "/", NULL };
        const char *const none[] = { NULL };
        g_autoptr(GPtrArray) c = phx_freeze_candidates_only (mountinfo, &fake_ops, only);
        g_autoptr(GPtrArray) empty = phx_freeze_candidates_only (mountinfo, &fake_ops, none);

        assert_order (c, want);
        g_assert_cmpuint (empty->len, ==, 0);
}

static void
test_path_on_mounts (void)
{
        const char *mountinfo =
                "20 1 254:1 / / rw - ext4 /dev/vda1 rw\n"
                "21 20 254:2 / /data rw - ext4 /dev/vdb rw\n"
                "22 20 254:2 /x /bind rw - ext4 /dev/vdb rw\n"
                "23 20 0:30 / /run rw - tmpfs tmpfs rw\n"
                "24 23 254:3 / /run/disk rw - ext4 /dev/vdc rw\n"
                "25 20 254:4 / /data rw - ext4 /dev/vdd rw\n";           /* hides the first /data */
        g_autoptr(GPtrArray) data = g_ptr_array_new ();
        g_autoptr(GPtrArray) root = g_ptr_array_new ();
        g_autoptr(GPtrArray) fake = g_ptr_array_new ();
        g_autoptr(GPtrArray) disk = g_ptr_array_new ();

        g_ptr_array_add (disk, "/run/disk");
        g_ptr_array_add (data, "/data");
        g_ptr_array_add (root, "/");
        g_ptr_array_add (fake, "/fake");
        g_assert_true (phx_freeze_path_on_mounts (mountinfo, "/data/run", data));
        g_assert_false (phx_freeze_path_on_mounts (mountinfo, "/bind/run", data)); /* vdb is hidden */
        g_assert_false (phx_freeze_path_on_mounts (mountinfo, "/database/run", data));
        g_assert_true (phx_freeze_path_on_mounts (mountinfo, "/database/run", root));
        g_assert_false (phx_freeze_path_on_mounts (mountinfo, "/run/phoenix-ga", root));
        g_assert_true (phx_freeze_path_on_mounts (mountinfo, "/run/disk/phoenix-ga", disk));
        g_assert_false (phx_freeze_path_on_mounts (mountinfo, "/run/phoenix-ga", disk));
        g_assert_false (phx_freeze_path_on_mounts (mountinfo, "/srv", fake));
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
thaw_when_due (PhxFreezeState *fr, gpointer user_data)
{
        g_assert_true (phx_freeze_state_thaw_now (fr, NULL));
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
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, run, 0);
                GPtrArray *frozen = phx_freeze_state_freeze (fr, &error);
                g_assert_no_error (error);
                g_assert_true (g_file_get_contents (marker, &text, NULL, NULL));
                g_assert_cmpstr (text, ==, "/a\n/b\n");
                phx_freeze_state_set_frozen (fr, frozen);
                g_assert_true (phx_freeze_state_get_frozen (fr));
                g_assert_cmpint (phx_freeze_state_get_frozen_since (fr), >, 0);
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
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, run, 1);
                g_assert_true (phx_freeze_state_restore (fr, &error));
                g_assert_true (phx_freeze_state_get_frozen (fr));
                /* the timer says a thaw is due; the freeze lane's owner thaws (here: us) */
                g_signal_connect (fr, "thaw-due", G_CALLBACK (thaw_when_due), NULL);
                g_signal_connect_swapped (fr, "notify::frozen", G_CALLBACK (g_main_loop_quit), loop);
                g_main_loop_run (loop);
                g_assert_false (phx_freeze_state_get_frozen (fr));
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
        g_assert_true (phx_freeze_hook_run (hook, "freeze", 5, &error));
        g_assert_false (phx_freeze_hook_run (hook, "fail", 5, &error));
        g_assert_nonnull (strstr (error->message, "failed (exit status 1)"));
        g_clear_error (&error);
        g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
        g_assert_cmpstr (text, ==, "freeze\nfail\n");
        g_assert_true (g_file_set_contents (slow, "#!/bin/sh\nsleep 30\n", -1, NULL));
        g_chmod (slow, 0755);
        g_assert_false (phx_freeze_hook_run (slow, "freeze", 1, &error));
        g_assert_error (error, PHX_ERROR, ETIMEDOUT);
        g_clear_error (&error);
        g_assert_false (phx_freeze_hook_run ("/nonexistent/hook", "freeze", 1, &error));
        g_unlink (hook);
        g_unlink (log);
        g_unlink (slow);
        g_rmdir (dir);
}

/* A directory on tmpfs for tests that need one (/dev/shm is tmpfs on every Linux system). */
static char *
make_tmpfs_dir (void)
{
        struct statfs sfs;
        char *dir;

        g_assert_cmpint (statfs ("/dev/shm", &sfs), ==, 0);
        g_assert_true (sfs.f_type == TMPFS_MAGIC);
        dir = g_build_filename ("/dev/shm", "phx-freeze-XXXXXX", NULL);
        g_assert_nonnull (g_mkdtemp (dir));
        return dir;
}

/* The agent runs with umask 0; the marker and its directory must not inherit it. */
static void
test_marker_modes (void)
{
        const char *const mounts[] = { "/a", NULL };
        g_autofree char *dir = make_tmpfs_dir ();
        g_autofree char *run = g_build_filename (dir, "run", NULL);
        g_autofree char *marker = g_build_filename (run, "frozen", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) frozen = NULL;
        mode_t old = umask (0);
        PhxFreezeBackend b;
        GStatBuf st;
        Fake f;

        fake_init (&f, &b, mounts);
        {
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, run, 0);

                frozen = phx_freeze_state_freeze (fr, &error);
                g_assert_no_error (error);
                g_assert_cmpint (g_stat (run, &st), ==, 0);
                g_assert_cmpint (st.st_mode & 07777, ==, 0700);
                g_assert_cmpint (g_lstat (marker, &st), ==, 0);
                g_assert_true (S_ISREG (st.st_mode));
                g_assert_cmpint (st.st_mode & 07777, ==, 0600);
                g_assert_true (phx_freeze_state_thaw_now (fr, &error));
                g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
        }
        /* an existing marker keeps 0600 when it is rewritten over a looser one */
        g_assert_true (g_file_set_contents (marker, "/a\n", -1, NULL));
        g_chmod (marker, 0666);
        {
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, run, 0);

                g_ptr_array_unref (phx_freeze_state_freeze (fr, &error));
                g_assert_no_error (error);
                g_assert_cmpint (g_stat (marker, &st), ==, 0);
                g_assert_cmpint (st.st_mode & 07777, ==, 0600);
                g_assert_true (phx_freeze_state_thaw_now (fr, &error));
        }
        umask (old);
        g_rmdir (run);
        g_rmdir (dir);
        fake_clear (&f);
}

/* Only a regular file of our own is taken for a marker at start. */
static void
test_restore_refuses_a_foreign_marker (void)
{
        const char *const mounts[] = { "/a", NULL };
        g_autofree char *dir = make_tmpfs_dir ();
        g_autofree char *marker = g_build_filename (dir, "frozen", NULL);
        g_autofree char *target = g_build_filename (dir, "elsewhere", NULL);
        g_autoptr(GError) error = NULL;
        PhxFreezeBackend b;
        Fake f;

        fake_init (&f, &b, mounts);
        g_assert_true (g_file_set_contents (target, "/a\n", -1, NULL));
        g_assert_cmpint (symlink (target, marker), ==, 0);
        {
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, dir, 0);

                g_assert_false (phx_freeze_state_restore (fr, &error));
                g_assert_error (error, PHX_ERROR, ELOOP);
                g_assert_false (phx_freeze_state_get_frozen (fr));
                g_clear_error (&error);
        }
        g_unlink (marker);
        g_assert_true (g_file_set_contents (marker, "/a\n", -1, NULL));
        g_assert_cmpint (chown (marker, 65534, 65534), ==, 0);
        {
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, dir, 0);

                g_assert_false (phx_freeze_state_restore (fr, &error));
                g_assert_nonnull (strstr (error->message, "not the agent's frozen-state marker"));
                g_assert_false (phx_freeze_state_get_frozen (fr));
        }
        g_unlink (marker);
        g_unlink (target);
        g_rmdir (dir);
        fake_clear (&f);
}

/* Every mountpoint of this machine, as a fake backend's list: nothing is frozen for real. */
static GPtrArray *
all_mountpoints (gpointer data, GError **error)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL));
        lines = g_strsplit (text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                g_auto(GStrv) f = g_strsplit (lines[i], " ", -1);

                if (g_strv_length (f) > 4 && strchr (f[4], '\\') == NULL)
                        g_ptr_array_add (out, g_strdup (f[4]));
        }
        return out;
}

/* A runtime directory on a filesystem the freeze is about to freeze is refused before any
 * FIFREEZE, and the marker is never written there. */
static void
test_marker_refused_on_a_listed_filesystem (void)
{
        const char *const none[] = { NULL };
        g_autofree char *dir = g_dir_make_tmp ("phx-freeze-XXXXXX", NULL);
        g_autofree char *run = g_build_filename (dir, "run", NULL);
        g_autoptr(GError) error = NULL;
        PhxFreezeBackend b;
        Fake f;

        fake_init (&f, &b, none);
        b.list = all_mountpoints;
        {
                g_autoptr(PhxFreezeState) fr = phx_freeze_state_new (&b, NULL, run, 0);

                g_assert_null (phx_freeze_state_freeze (fr, &error));
                g_assert_nonnull (strstr (error->message, "which fs-freeze freezes"));
                g_assert_cmpstr (f.journal->str, ==, ""); /* no FIFREEZE was tried */
                g_assert_false (g_file_test (run, G_FILE_TEST_EXISTS));
        }
        g_rmdir (dir);
        fake_clear (&f);
}

/* statfs and mountinfo only: nothing is frozen. */
static void
test_check_runtime_dir (void)
{
        g_autofree char *tmpfs = make_tmpfs_dir ();
        g_autofree char *missing = g_build_filename (tmpfs, "not", "yet", NULL);
        g_autofree char *disk = g_canonicalize_filename (PROTOCOL_TEST_DIR, NULL);
        g_autoptr(GPtrArray) cands = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        struct statfs sfs;

        g_assert_true (phx_freeze_check_runtime_dir (tmpfs, &error));
        g_assert_no_error (error);
        g_assert_true (phx_freeze_check_runtime_dir (missing, &error));
        g_assert_no_error (error);
        g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS)); /* a check creates nothing */

        /* the source tree is on the machine's disk */
        g_assert_cmpint (statfs (disk, &sfs), ==, 0);
        g_assert_true (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC);
        g_assert_false (phx_freeze_check_runtime_dir (disk, &error));
        g_assert_nonnull (strstr (error->message, "runtime directory"));
        g_assert_nonnull (strstr (error->message, "tmpfs"));
        /* and when that disk is one the real backend would freeze, the message says so (the
         * real list only reads mountinfo and sysfs) */
        cands = phx_freeze_backend_real ()->list (phx_freeze_backend_real ()->data, NULL);
        g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL));
        if (phx_freeze_path_on_mounts (text, disk, cands))
                g_assert_nonnull (strstr (error->message, "which fs-freeze freezes"));
        g_clear_error (&error);
        g_rmdir (tmpfs);
}

/* The hook gets umask 022, /, stdin from /dev/null and a documented environment, not the
 * agent's umask 0 and whatever was in its environment. */
static void
test_hook_environment (void)
{
        g_autofree char *dir = make_tmpfs_dir ();
        g_autofree char *hook = g_build_filename (dir, "hook", NULL);
        g_autofree char *out = g_build_filename (dir, "out", NULL);
        g_autofree char *made = g_build_filename (dir, "made", NULL);
        g_autofree char *script = g_strdup_printf ("#!/bin/sh\n"
                                                   "{ umask; pwd; echo \"PATH=$PATH\"; echo \"HOME=$HOME\";\n"
                                                   "  echo \"LEAK=${PHX_TEST_LEAK-unset}\"; cat; } > %s\n"
                                                   "touch %s\n",
                                                   out, made);
        g_autofree char *text = NULL;
        g_autofree char *want = g_strdup_printf ("0022\n/\n"
                                                 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                                                 "HOME=%s\nLEAK=unset\n",
                                                 g_get_home_dir ());
        g_autoptr(GError) error = NULL;
        mode_t old = umask (0);
        GStatBuf st;

        g_setenv ("PHX_TEST_LEAK", "1", TRUE);
        g_assert_true (g_file_set_contents (hook, script, -1, NULL));
        g_chmod (hook, 0755);
        g_assert_true (phx_freeze_hook_run (hook, "freeze", 5, &error));
        g_assert_true (g_file_get_contents (out, &text, NULL, NULL));
        g_assert_cmpstr (text, ==, want);
        g_assert_cmpint (g_stat (made, &st), ==, 0);
        g_assert_cmpint (st.st_mode & 07777, ==, 0644);
        umask (old);
        g_unsetenv ("PHX_TEST_LEAK");
        g_unlink (hook);
        g_unlink (out);
        g_unlink (made);
        g_rmdir (dir);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        phx_log_install ();
        g_test_add_func ("/freeze/candidates", test_candidates);
        g_test_add_func ("/freeze/candidates-follow-the-stack", test_candidates_follow_the_stack);
        g_test_add_func ("/freeze/candidates-cycle", test_candidates_cycle);
        g_test_add_func ("/freeze/candidates-only", test_candidates_only);
        g_test_add_func ("/freeze/path-on-mounts", test_path_on_mounts);
        g_test_add_func ("/freeze/all-or-nothing", test_freeze_all_or_nothing);
        g_test_add_func ("/freeze/skips-unsupported-and-busy", test_freeze_skips_unsupported_and_busy);
        g_test_add_func ("/freeze/thaw-goes-on", test_thaw_goes_on_past_failures);
        g_test_add_func ("/freeze/marker-restore-timer", test_freezer_marker_restore_and_timer);
        g_test_add_func ("/freeze/hook", test_freeze_hook);
        g_test_add_func ("/freeze/marker-modes", test_marker_modes);
        g_test_add_func ("/freeze/restore-refuses-a-foreign-marker", test_restore_refuses_a_foreign_marker);
        g_test_add_func ("/freeze/marker-refused-on-a-listed-filesystem",
                         test_marker_refused_on_a_listed_filesystem);
        g_test_add_func ("/freeze/check-runtime-dir", test_check_runtime_dir);
        g_test_add_func ("/freeze/hook-environment", test_hook_environment);
        return g_test_run ();
}
