/* phx-freeze-plan.c — which filesystems fs-freeze freezes and in which order: local block
 * filesystems once each (dm, loop and btrfs included; network, FUSE and bind repeats not),
 * a filesystem stacked on a file of another always before it; and where the frozen-state
 * marker may live. Reads /proc and /sys (through PhxBlockOps, faked in tests); changes
 * nothing. */
#define G_LOG_DOMAIN "phx-freeze-plan"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gio/gio.h>

#include "phx-error.h"
#include "phx-freeze-plan.h"
#include "phx-limits.h"

/* Network and pseudo filesystems that FIFREEZE must never touch, even on a /dev source. */
static const char *const skipped_types[] = {
        "nfs", "nfs4", "cifs", "smbfs", "smb3", "ncpfs", "ceph", "glusterfs", "9p", "afs", "fuse",
        "fuseblk", NULL,
};

static gboolean
skipped_type (const char *fstype)
{
        if (g_str_has_prefix (fstype, "fuse."))
                return TRUE;
        return g_strv_contains (skipped_types, fstype);
}

/* mountinfo escapes blanks and backslashes in paths as \NNN octal. */
static char *
unescape (const char *s)
{
        GString *out = g_string_new (NULL);

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        g_string_append_c (out, (char) ((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0')));
                        s += 3;
                } else {
                        g_string_append_c (out, *s);
                }
        }
        return g_string_free (out, FALSE);
}

typedef PhxMount Mount;

static void
mount_clear (gpointer p)
{
        Mount *m = p;

        g_free (m->majmin);
        g_free (m->mountpoint);
        g_free (m->fstype);
        g_free (m->source);
}

/* Every well-formed line, in mount order (guest-get-fsinfo reads them too). */
GArray *
phx_mounts_parse (const char *mountinfo)
{
        g_auto(GStrv) lines = g_strsplit (mountinfo, "\n", -1);
        GArray *mounts = g_array_new (FALSE, TRUE, sizeof (Mount));

        g_array_set_clear_func (mounts, mount_clear);
        for (guint i = 0; lines[i] != NULL; i++) {
                g_auto(GStrv) f = g_strsplit (lines[i], " ", -1);
                guint n = g_strv_length (f), sep;
                Mount m;

                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
                for (sep = 6; sep < n && !g_str_equal (f[sep], "-"); sep++)
                        ;
                if (n < 5 || sep + 2 >= n || f[4][0] != '/')
                        continue;
                m.majmin = g_strdup (f[2]);
                m.mountpoint = unescape (f[4]);
                m.fstype = g_strdup (f[sep + 1]);
                m.source = unescape (f[sep + 2]);
                g_array_append_val (mounts, m);
        }
        return mounts;
}

/* The mount a path lives on: the longest mountpoint that is a prefix of it; of equal ones the
 * last, since a later mount on the same point hides the earlier. Path must be canonical. */
static const Mount *
mount_of_path (GArray *mounts, const char *path)
{
        const Mount *best = NULL;
        gsize best_len = 0;

        for (guint i = 0; i < mounts->len; i++) {
                const Mount *m = &g_array_index (mounts, Mount, i);
                gsize len = strlen (m->mountpoint);

                if (!g_str_has_prefix (path, m->mountpoint))
                        continue;
                if (len > 1 && path[len] != '\0' && path[len] != '/')
                        continue; /* /database is not under /data */
                if (best == NULL || len >= best_len) {
                        best = m;
                        best_len = len;
                }
        }
        return best;
}

/* The mount visible at exactly this mountpoint (the last one mounted there). */
static const Mount *
mount_at (GArray *mounts, const char *mountpoint)
{
        for (guint i = mounts->len; i > 0; i--) {
                const Mount *m = &g_array_index (mounts, Mount, i - 1);

                if (g_str_equal (m->mountpoint, mountpoint))
                        return m;
        }
        return NULL;
}

typedef struct {
        const Mount *mount;
        char *name;      /* kernel device name */
        GArray *before;  /* indices of candidates this one must be frozen before */
        guint waiting;   /* candidates still to be frozen before this one */
        gboolean placed;
} Candidate;

static void
candidate_clear (gpointer p)
{
        Candidate *c = p;

        g_free (c->name);
        g_array_unref (c->before);
}

static void
add_edge (Candidate *from, guint to)
{
        for (guint i = 0; i < from->before->len; i++) {
                if (g_array_index (from->before, guint, i) == to)
                        return;
        }
        g_array_append_val (from->before, to);
}

/* Records which candidates hold, in a file, the storage of candidate `self`: a loop device
 * anywhere below its device (through dm and md slaves and partitions) whose backing file lives
 * on another candidate. Freezing that other filesystem first would leave self's final
 * writeback waiting inside the loop driver on a frozen filesystem: FIFREEZE would never return. */
static void
find_holders (GArray *cands, guint self, GArray *mounts, GHashTable *by_majmin, const PhxBlockOps *ops)
{
        Candidate *c = &g_array_index (cands, Candidate, self);
        g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GQueue) todo = g_queue_new ();
        char *dev;

        g_queue_push_tail (todo, g_strdup (c->name));
        g_hash_table_add (seen, g_strdup (c->name));
        while ((dev = g_queue_pop_head (todo)) != NULL) {
                g_autofree char *name = dev;
                g_autofree char *backing = ops->backing_file (name);
                g_auto(GStrv) lower = NULL;

                if (backing != NULL) {
                        const Mount *m;
                        gpointer idx;

                        g_strchomp (backing);
                        if (g_str_has_suffix (backing, " (deleted)"))
                                backing[strlen (backing) - strlen (" (deleted)")] = '\0';
                        m = mount_of_path (mounts, backing);
                        if (m != NULL && g_hash_table_lookup_extended (by_majmin, m->majmin, NULL, &idx) &&
                            GPOINTER_TO_UINT (idx) != self)
                                add_edge (c, GPOINTER_TO_UINT (idx));
                }
                lower = ops->lower (name);
                for (guint i = 0; lower != NULL && lower[i] != NULL; i++) {
                        if (g_hash_table_size (seen) >= PHX_FREEZE_LOWER_MAX)
                                break;
                        if (g_hash_table_add (seen, g_strdup (lower[i])))
                                g_queue_push_tail (todo, g_strdup (lower[i]));
                }
        }
}

/* Mountpoints to freeze, in the order to freeze them (thaw goes the other way).
 * Which: local filesystems on block devices, each superblock once (its first mount wins, so
 * bind mounts and repeats are skipped), no network or FUSE filesystems. Filesystems on loop
 * and device-mapper devices are included: LVM and LUKS roots are the common case.
 * Order: reverse mount order (what is mounted later is usually stacked on what was mounted
 * before), except that a filesystem whose storage is a file on another filesystem is always
 * frozen before that one (find_holders), whatever the mount order says. */
GPtrArray *
phx_freeze_candidates (const char *mountinfo, const PhxBlockOps *ops)
{
        return phx_freeze_candidates_only (mountinfo, ops, NULL);
}

/* As phx_freeze_candidates, of only the mounts whose mountpoint is exactly one of `only`
 * (NULL: all). The filter comes before the "each superblock once" rule, so that a listed bind
 * mount of an unlisted filesystem is frozen through the listed path (qemu-ga's freeze-list
 * does the same); listed paths that are not mountpoints match nothing. */
GPtrArray *
phx_freeze_candidates_only (const char *mountinfo, const PhxBlockOps *ops, const char *const *only)
{
        g_autoptr(GArray) mounts = phx_mounts_parse (mountinfo);
        g_autoptr(GHashTable) by_majmin = g_hash_table_new (g_str_hash, g_str_equal);
        g_autoptr(GArray) cands = g_array_new (FALSE, TRUE, sizeof (Candidate));
        GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

        g_array_set_clear_func (cands, candidate_clear);
        for (guint i = 0; i < mounts->len; i++) {
                const Mount *m = &g_array_index (mounts, Mount, i);
                Candidate c = { m, NULL, NULL, 0, FALSE };

                if (!g_str_has_prefix (m->source, "/dev/") || skipped_type (m->fstype))
                        continue;
                if (only != NULL && !g_strv_contains (only, m->mountpoint))
                        continue;
                if (g_hash_table_contains (by_majmin, m->majmin))
                        continue;
                c.name = ops->dev_name (m->majmin, m->source);
                if (c.name == NULL)
                        continue; /* not a block device (any more) */
                c.before = g_array_new (FALSE, FALSE, sizeof (guint));
                g_hash_table_insert (by_majmin, m->majmin, GUINT_TO_POINTER (cands->len));
                g_array_append_val (cands, c);
        }
        for (guint i = 0; i < cands->len; i++)
                find_holders (cands, i, mounts, by_majmin, ops);
        for (guint i = 0; i < cands->len; i++) {
                Candidate *c = &g_array_index (cands, Candidate, i);

                for (guint j = 0; j < c->before->len; j++)
                        g_array_index (cands, Candidate, g_array_index (c->before, guint, j)).waiting++;
        }
        /* Each round takes the latest-mounted candidate that waits for nobody; in a cycle
         * (which stacking cannot make, but sysfs is read piecemeal) simply the latest. */
        while (out->len < cands->len) {
                Candidate *pick = NULL;

                for (guint i = cands->len; i > 0 && pick == NULL; i--) {
                        Candidate *c = &g_array_index (cands, Candidate, i - 1);

                        if (!c->placed && c->waiting == 0)
                                pick = c;
                }
                for (guint i = cands->len; i > 0 && pick == NULL; i--) {
                        Candidate *c = &g_array_index (cands, Candidate, i - 1);

                        if (!c->placed)
                                pick = c;
                }
                pick->placed = TRUE;
                for (guint j = 0; j < pick->before->len; j++) {
                        guint k = g_array_index (pick->before, guint, j);
                        Candidate *after = &g_array_index (cands, Candidate, k);

                        if (after->waiting > 0)
                                after->waiting--;
                }
                g_ptr_array_add (out, g_strdup (pick->mount->mountpoint));
        }
        return out;
}

/* The element of `mountpoints` whose filesystem holds `path` (canonical), by superblock, so
 * that a bind mount or another btrfs subvolume of a listed filesystem counts; or NULL.
 * Listed paths that are not mountpoints in `mountinfo` match nothing. */
static const char *
mount_holding (const char *mountinfo, const char *path, GPtrArray *mountpoints)
{
        g_autoptr(GArray) mounts = phx_mounts_parse (mountinfo);
        const Mount *home = mount_of_path (mounts, path);

        for (guint i = 0; home != NULL && i < mountpoints->len; i++) {
                const Mount *m = mount_at (mounts, g_ptr_array_index (mountpoints, i));

                if (m != NULL && g_str_equal (m->majmin, home->majmin))
                        return g_ptr_array_index (mountpoints, i);
        }
        return NULL;
}

gboolean
phx_freeze_path_on_mounts (const char *mountinfo, const char *path, GPtrArray *mountpoints)
{
        return mount_holding (mountinfo, path, mountpoints) != NULL;
}

/* The canonical path of dir or, if it does not exist yet, of its nearest existing ancestor:
 * the filesystem it is (or will be) created on. */
static char *
existing_ancestor (const char *dir)
{
        g_autofree char *path = g_canonicalize_filename (dir, NULL);

        for (;;) {
                char *real = realpath (path, NULL);
                char *parent;

                if (real != NULL)
                        return real;
                parent = g_path_get_dirname (path);
                if (g_str_equal (parent, path)) {
                        g_free (parent);
                        return g_strdup ("/");
                }
                g_free (path);
                path = parent;
        }
}

char *
phx_freeze_read_mountinfo (GError **error)
{
        g_autoptr(GError) local = NULL;
        char *text = NULL;

        if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, &local)) {
                phx_error_set (error, PHX_ERROR_GENERIC, "%s", local->message);
                return NULL;
        }
        return text;
}

/* Refuses dir when its filesystem is one of `mountpoints` (what is about to be, or is,
 * frozen): writing the marker there would wait for a thaw that this very freeze prevents.
 * Reads only (realpath, mountinfo): safe to call while those filesystems are frozen. */
gboolean
phx_freeze_marker_dir_safe (const char *dir, GPtrArray *mountpoints, GError **error)
{
        g_autofree char *text = phx_freeze_read_mountinfo (error);
        g_autofree char *path = existing_ancestor (dir);
        const char *hit;

        if (text == NULL)
                return FALSE;
        hit = mount_holding (text, path, mountpoints);
        if (hit != NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC,
                               "runtime directory %s is on %s, which fs-freeze freezes: the frozen-state "
                               "marker must be on tmpfs or ramfs (see --runtime-dir)",
                               dir, hit);
                return FALSE;
        }
        return TRUE;
}


/* The marker must be writable while everything the agent freezes is frozen, and must not
 * outlive a reboot (a stale one would make the next boot's agent report frozen): only a
 * memory filesystem guarantees both. Reads only; meant for start-up. */
gboolean
phx_freeze_check_runtime_dir (const char *dir, GError **error)
{
        g_autofree char *path = existing_ancestor (dir);
        g_autofree char *text = NULL;
        g_autoptr(GArray) mounts = NULL;
        g_autoptr(GPtrArray) cands = NULL;
        const Mount *home;
        struct statfs sfs;

        if (statfs (path, &sfs) < 0) {
                phx_error_set_errno (error, errno, "statfs %s", path);
                return FALSE;
        }
        if (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)
                return TRUE;
        text = phx_freeze_read_mountinfo (error);
        if (text == NULL)
                return FALSE;
        mounts = phx_mounts_parse (text);
        home = mount_of_path (mounts, path);
        cands = phx_freeze_candidates (text, phx_freeze_block_ops_sysfs ());
        if (home != NULL && mount_holding (text, path, cands) != NULL) {
                phx_error_set (error, PHX_ERROR_GENERIC,
                               "runtime directory %s is on %s (%s), which fs-freeze freezes: "
                               "the frozen-state marker must be on tmpfs or ramfs (see --runtime-dir)",
                               dir, home->mountpoint, home->fstype);
                return FALSE;
        }
        phx_error_set (error, PHX_ERROR_GENERIC,
                       "runtime directory %s is on %s (%s), not tmpfs or ramfs: the frozen-state marker "
                       "must not outlive a reboot nor wait on a frozen disk (see --runtime-dir)",
                       dir, home != NULL ? home->mountpoint : path,
                       home != NULL ? home->fstype : "unknown type");
        return FALSE;
}

static char *
sys_dev_name (const char *majmin, const char *source)
{
        g_autofree char *link = g_strconcat ("/sys/dev/block/", majmin, NULL);
        g_autofree char *target = g_file_read_link (link, NULL);
        struct stat st;

        if (target != NULL)
                return g_path_get_basename (target);
        /* btrfs (and anything with an anonymous superblock device): ask the node instead */
        if (source == NULL || stat (source, &st) < 0 || !S_ISBLK (st.st_mode))
                return NULL;
        g_free (link);
        link = g_strdup_printf ("/sys/dev/block/%u:%u", major (st.st_rdev), minor (st.st_rdev));
        target = g_file_read_link (link, NULL);
        return target != NULL ? g_path_get_basename (target) : NULL;
}

static GStrv
sys_lower (const char *name)
{
        g_autofree char *base = g_build_filename ("/sys/class/block", name, NULL);
        g_autofree char *slaves = g_build_filename (base, "slaves", NULL);
        g_autofree char *partition = g_build_filename (base, "partition", NULL);
        g_autoptr(GStrvBuilder) out = g_strv_builder_new ();
        g_autoptr(GDir) dir = g_dir_open (slaves, 0, NULL);
        const char *entry;

        while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
                g_strv_builder_add (out, entry);
        if (g_file_test (partition, G_FILE_TEST_EXISTS)) {
                /* /sys/class/block/vda1 -> .../block/vda/vda1: the disk is the parent directory */
                g_autofree char *real = realpath (base, NULL);
                g_autofree char *parent = real != NULL ? g_path_get_dirname (real) : NULL;

                if (parent != NULL) {
                        g_autofree char *disk = g_path_get_basename (parent);

                        g_strv_builder_add (out, disk);
                }
        }
        return g_strv_builder_end (out);
}

static char *
sys_backing_file (const char *name)
{
        g_autofree char *path = g_build_filename ("/sys/class/block", name, "loop", "backing_file", NULL);
        char *text = NULL;

        if (!g_file_get_contents (path, &text, NULL, NULL))
                return NULL;
        return text;
}

static const PhxBlockOps sys_block_ops = { sys_dev_name, sys_lower, sys_backing_file };

/* The block layer as sysfs shows it. */
const PhxBlockOps *
phx_freeze_block_ops_sysfs (void)
{
        return &sys_block_ops;
}
