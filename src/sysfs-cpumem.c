/* sysfs-cpumem.c — reads and writes the `online` file of each vCPU and the `state` file of
 * each memory block under /sys/devices/system. No protocol knowledge; blocking calls only
 * (a memory block going offline may take seconds), so callers run it in a worker.
 * The texts of the vCPU errors are qemu-ga's: hosts show them to people. */
#define G_LOG_DOMAIN "sysfs-cpumem"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "sysfs-cpumem.h"

#define CPU_DIR "/sys/devices/system/cpu"
#define MEMORY_DIR "/sys/devices/system/memory"

const char *
phx_memblk_response_to_string (PhxMemblkResponse response)
{
        switch (response) {
        case PHX_MEMBLK_SUCCESS: return "success";
        case PHX_MEMBLK_NOT_FOUND: return "not-found";
        case PHX_MEMBLK_NOT_SUPPORTED: return "operation-not-supported";
        case PHX_MEMBLK_FAILED:
        default: return "operation-failed";
        }
}

/* "cpu12" with prefix "cpu" -> 12; FALSE for anything else (cpufreq, cpuidle, memory_tier). */
static gboolean
parse_unit_name (const char *name, const char *prefix, guint64 *id)
{
        gsize n = strlen (prefix);

        if (strncmp (name, prefix, n) != 0 || !g_ascii_isdigit (name[n]))
                return FALSE;
        return g_ascii_string_to_unsigned (name + n, 10, 0, G_MAXINT64, id, NULL);
}

static int
compare_units (gconstpointer a, gconstpointer b)
{
        guint64 x = ((const PhxSysfsUnit *) a)->id, y = ((const PhxSysfsUnit *) b)->id;

        return x < y ? -1 : x > y;
}

/* Up to size - 1 bytes of attribute `name` of directory `dirfd`, NUL-terminated; -1 with
 * errno set when it cannot be read. */
static gssize
read_attr (int dirfd, const char *name, char *buf, gsize size)
{
        int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
        gssize n;
        int errsv;

        if (fd < 0)
                return -1;
        do
                n = pread (fd, buf, size - 1, 0);
        while (n < 0 && errno == EINTR);
        errsv = errno;
        close (fd);
        errno = errsv;
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

static gboolean
write_attr (int fd, const char *text)
{
        gssize n;

        do
                n = pwrite (fd, text, strlen (text), 0);
        while (n < 0 && errno == EINTR);
        return n >= 0;
}

/* The units named PREFIXn in `dir`, each read by `read_one`, sorted by n. */
typedef gboolean (*ReadOne) (int dirfd, const char *dir, const char *name, PhxSysfsUnit *unit, GError **error);

static GArray *
read_units (const char *dir, const char *prefix, guint max, ReadOne read_one, GError **error)
{
        g_autoptr(GArray) units = g_array_new (FALSE, FALSE, sizeof (PhxSysfsUnit));
        DIR *d = opendir (dir);
        struct dirent *de;

        if (d == NULL) {
                phx_error_set_errno (error, errno, "open(\"%s\")", dir);
                return NULL;
        }
        while ((errno = 0, de = readdir (d)) != NULL) {
                PhxSysfsUnit unit = { 0 };

                if (!parse_unit_name (de->d_name, prefix, &unit.id))
                        continue;
                if (units->len >= max) {
                        phx_error_set (error, E2BIG, "more than %u entries in %s", max, dir);
                        break;
                }
                if (!read_one (dirfd (d), dir, de->d_name, &unit, error))
                        break;
                g_array_append_val (units, unit);
        }
        if (de == NULL && errno != 0)
                phx_error_set_errno (error, errno, "readdir(\"%s\")", dir);
        closedir (d);
        if (error != NULL && *error != NULL)
                return NULL;
        g_array_sort (units, compare_units);
        return g_steal_pointer (&units);
}

/* A vCPU without an `online` file is one the kernel never takes offline (cpu0 on x86). */
static gboolean
read_vcpu (int dirfd, const char *dir, const char *name, PhxSysfsUnit *unit, GError **error)
{
        g_autofree char *attr = g_strconcat (name, "/online", NULL);
        char buf[8];

        if (read_attr (dirfd, attr, buf, sizeof buf) < 0) {
                if (errno != ENOENT) {
                        phx_error_set_errno (error, errno, "open(\"%s/%s\")", dir, attr);
                        return FALSE;
                }
                unit->online = TRUE;
                unit->can_offline = FALSE;
                return TRUE;
        }
        unit->online = buf[0] != '0';
        unit->can_offline = TRUE;
        return TRUE;
}

GArray *
phx_sysfs_vcpus_read (GError **error)
{
        return read_units (CPU_DIR, "cpu", PHX_VCPUS_MAX, read_vcpu, error);
}

gboolean
phx_sysfs_vcpu_set (gint64 id, gboolean online, gboolean *changed, GError **error)
{
        /* qemu-ga's wording, trailing slash included: hosts match "No such file" on it */
        g_autofree char *dir = g_strdup_printf (CPU_DIR "/cpu%" G_GINT64_FORMAT "/", id);
        int dirfd, fd;
        char state;
        gssize n;
        gboolean ok = TRUE;

        if (changed != NULL)
                *changed = FALSE;
        dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                phx_error_set_errno (error, errno, "open(\"%s\")", dir);
                return FALSE;
        }
        fd = openat (dirfd, "online", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                int errsv = errno;

                close (dirfd);
                if (errsv != ENOENT) {
                        phx_error_set_errno (error, errsv, "open(\"%sonline\")", dir);
                        return FALSE;
                }
                if (!online) {
                        phx_error_set (error, EPERM, "logical processor #%" G_GINT64_FORMAT " can't be offlined",
                                       id);
                        return FALSE;
                }
                return TRUE; /* always online */
        }
        close (dirfd);
        do
                n = pread (fd, &state, 1, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                phx_error_set_errno (error, errno, "pread(\"%sonline\")", dir);
                ok = FALSE;
        } else if (n == 0) {
                phx_error_set (error, EIO, "pread(\"%sonline\"): unexpected EOF", dir);
                ok = FALSE;
        } else if ((state != '0') != online) {
                /* the kernel brings the vCPU up or down inside this write */
                ok = write_attr (fd, online ? "1" : "0");
                if (!ok)
                        phx_error_set_errno (error, errno, "pwrite(\"%sonline\")", dir);
                else if (changed != NULL)
                        *changed = TRUE;
        }
        close (fd);
        return ok;
}

/* A memory block without `state` comes from a kernel that cannot take memory offline; one
 * without `removable` is counted as not removable. Since Linux 5.7 `removable` is always 1
 * where hot-remove is built in: whether an offline succeeds is only known by trying. */
static gboolean
read_memory_block (int dirfd, const char *dir, const char *name, PhxSysfsUnit *unit, GError **error)
{
        g_autofree char *state = g_strconcat (name, "/state", NULL);
        g_autofree char *removable = g_strconcat (name, "/removable", NULL);
        char buf[32];

        if (read_attr (dirfd, state, buf, sizeof buf) < 0) {
                if (errno != ENOENT) {
                        phx_error_set_errno (error, errno, "open(\"%s/%s\")", dir, state);
                        return FALSE;
                }
                unit->online = TRUE;
                unit->can_offline = FALSE;
                return TRUE;
        }
        unit->online = g_str_has_prefix (buf, "online");
        if (read_attr (dirfd, removable, buf, sizeof buf) < 0) {
                if (errno != ENOENT) {
                        phx_error_set_errno (error, errno, "open(\"%s/%s\")", dir, removable);
                        return FALSE;
                }
                unit->can_offline = FALSE;
        } else {
                unit->can_offline = buf[0] != '0';
        }
        return TRUE;
}

GArray *
phx_sysfs_memory_blocks_read (GError **error)
{
        g_autoptr(GError) local = NULL;
        GArray *units = read_units (MEMORY_DIR, "memory", PHX_MEMORY_BLOCKS_MAX, read_memory_block, &local);

        /* a kernel without memory hotplug has no such directory: no blocks to offer */
        if (units == NULL && g_error_matches (local, PHX_ERROR, ENOENT))
                return g_array_new (FALSE, FALSE, sizeof (PhxSysfsUnit));
        if (units == NULL)
                g_propagate_error (error, g_steal_pointer (&local));
        return units;
}

PhxMemblkResponse
phx_sysfs_memory_block_set (guint64 index, gboolean online, gboolean *changed, int *error_code)
{
        g_autofree char *dir = g_strdup_printf (MEMORY_DIR "/memory%" G_GUINT64_FORMAT, index);
        char buf[32];
        int dirfd, fd;
        PhxMemblkResponse response = PHX_MEMBLK_SUCCESS;

        *error_code = 0;
        if (changed != NULL)
                *changed = FALSE;
        dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                *error_code = errno;
                if (*error_code != ENOENT)
                        return PHX_MEMBLK_FAILED;
                /* no memory directory at all: a kernel without memory hotplug */
                return access (MEMORY_DIR, F_OK) == 0 ? PHX_MEMBLK_NOT_FOUND : PHX_MEMBLK_NOT_SUPPORTED;
        }
        if (read_attr (dirfd, "state", buf, sizeof buf) < 0) {
                *error_code = errno;
                close (dirfd);
                if (*error_code != ENOENT)
                        return PHX_MEMBLK_FAILED;
                if (online) { /* always online */
                        *error_code = 0;
                        return PHX_MEMBLK_SUCCESS;
                }
                return PHX_MEMBLK_NOT_SUPPORTED;
        }
        if (g_str_has_prefix (buf, "online") == online) {
                close (dirfd);
                return PHX_MEMBLK_SUCCESS;
        }
        fd = openat (dirfd, "state", O_WRONLY | O_CLOEXEC);
        /* offline migrates every page of the block away: seconds, or EBUSY when it cannot */
        if (fd < 0 || !write_attr (fd, online ? "online" : "offline")) {
                *error_code = errno;
                response = PHX_MEMBLK_FAILED;
        } else if (changed != NULL) {
                *changed = TRUE;
        }
        if (fd >= 0)
                close (fd);
        close (dirfd);
        return response;
}

gboolean
phx_sysfs_memory_block_size (guint64 *size, GError **error)
{
        char buf[32];
        int dirfd = open (MEMORY_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        gssize n;

        if (dirfd < 0) {
                phx_error_set_errno (error, errno, "open(\"%s\")", MEMORY_DIR);
                return FALSE;
        }
        n = read_attr (dirfd, "block_size_bytes", buf, sizeof buf);
        if (n < 0) {
                phx_error_set_errno (error, errno, "open(\"%s/block_size_bytes\")", MEMORY_DIR);
                close (dirfd);
                return FALSE;
        }
        close (dirfd);
        g_strstrip (buf);
        /* hexadecimal without 0x, e.g. "8000000" for 128 MiB */
        if (!g_ascii_string_to_unsigned (buf, 16, 1, G_MAXINT64, size, NULL)) {
                phx_error_set (error, EINVAL, "%s/block_size_bytes: unexpected content '%s'", MEMORY_DIR, buf);
                return FALSE;
        }
        return TRUE;
}
