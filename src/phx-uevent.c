/* phx-uevent.c — PhxUevent: a NETLINK_KOBJECT_UEVENT socket watched by the main loop, with a
 * socket filter that lets only vCPU and memory additions through; each datagram from the
 * kernel checked and parsed into a signal. It reads nothing while the
 * machine's devices do not change (no timer, no polling) and acts on nothing itself. */
#define G_LOG_DOMAIN "phx-uevent"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/netlink.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "phx-uevent.h"

/* The kernel's multicast group on NETLINK_KOBJECT_UEVENT; udev re-sends on group 2, in its
 * own format, events it has already handled: those are not ours to read. */
#define UEVENT_GROUP_KERNEL 1

/* Big-endian words of a header prefix, as BPF's absolute loads read them. */
#define WORD(a, b, c, d) (((guint32) (a) << 24) | ((guint32) (b) << 16) | ((guint32) (c) << 8) | (guint32) (d))

/* The kernel drops, before any wake-up, every event but "add@/devices/system/cpu/..." and
 * "add@/devices/system/memory...": a machine that makes loop devices, network namespaces or
 * containers all day sends many, and none of them is ours. The header is checked at fixed
 * offsets; a shorter datagram fails a load and is dropped too. */
static const struct sock_filter add_filter[] = {
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 0),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('a', 'd', 'd', '@'), 0, 12),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 4),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('/', 'd', 'e', 'v'), 0, 10),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 8),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('i', 'c', 'e', 's'), 0, 8),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 12),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('/', 's', 'y', 's'), 0, 6),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 16),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('t', 'e', 'm', '/'), 0, 4),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, 20),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('c', 'p', 'u', '/'), 1, 0),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, WORD ('m', 'e', 'm', 'o'), 0, 1),
        BPF_STMT (BPF_RET | BPF_K, 0xffffffff), /* keep */
        BPF_STMT (BPF_RET | BPF_K, 0),          /* drop */
};

struct _PhxUevent {
        GObject parent_instance;
        int fd;
        guint source;
};

enum { SIGNAL_EVENT, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PhxUevent, phx_uevent, G_TYPE_OBJECT)

/* "add@/devices/system/cpu/cpu2\0ACTION=add\0DEVPATH=...\0SUBSYSTEM=cpu\0SEQNUM=..\0": the
 * header, then KEY=VALUE strings. Anything else (a truncated or foreign datagram) is
 * dropped: every value the signal carries comes from a complete, well-formed event. */
static void
parse_and_emit (PhxUevent *self, const char *buf, gsize len)
{
        const char *action = NULL, *devpath = NULL, *subsystem = NULL;
        gboolean synthetic = FALSE;
        const char *end = buf + len;
        const char *p;

        if (len == 0 || buf[len - 1] != '\0' || strchr (buf, '@') == NULL)
                return;
        for (p = buf + strlen (buf) + 1; p < end; p += strlen (p) + 1) {
                if (g_str_has_prefix (p, "ACTION="))
                        action = p + strlen ("ACTION=");
                else if (g_str_has_prefix (p, "DEVPATH="))
                        devpath = p + strlen ("DEVPATH=");
                else if (g_str_has_prefix (p, "SUBSYSTEM="))
                        subsystem = p + strlen ("SUBSYSTEM=");
                else if (g_str_has_prefix (p, "SYNTH_UUID="))
                        synthetic = TRUE;
        }
        if (action == NULL || devpath == NULL || subsystem == NULL)
                return;
        g_debug ("uevent %s %s (%s)%s", action, devpath, subsystem, synthetic ? " synthetic" : "");
        g_signal_emit (self, signals[SIGNAL_EVENT], 0, action, devpath, subsystem, synthetic);
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
        PhxUevent *self = user_data;
        char buf[PHX_UEVENT_SIZE_MAX];

        /* a bounded batch: a burst (a large DIMM) leaves the rest for the next iteration */
        for (guint i = 0; i < PHX_UEVENT_BATCH_MAX; i++) {
                struct sockaddr_nl from = { 0 };
                struct iovec iov = { buf, sizeof buf };
                struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                                      .msg_iovlen = 1 };
                gssize n = recvmsg (fd, &msg, MSG_DONTWAIT | MSG_TRUNC);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == ENOBUFS) {
                        g_warning (_("kernel device events were lost (receive queue full): hot-added vCPUs "
                                     "or memory may stay offline"));
                        continue;
                }
                if (n < 0)
                        break; /* EAGAIN: all read */
                /* only the kernel (port 0) speaks on this group; a truncated event is not parsed */
                if (msg.msg_namelen != sizeof from || from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC) ||
                    (gsize) n > sizeof buf)
                        continue;
                parse_and_emit (self, buf, (gsize) n);
        }
        return G_SOURCE_CONTINUE;
}

PhxUevent *
phx_uevent_new (GError **error)
{
        g_autoptr(PhxUevent) self = g_object_new (PHX_TYPE_UEVENT, NULL);
        struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = UEVENT_GROUP_KERNEL };
        struct sock_fprog prog = { G_N_ELEMENTS (add_filter), (struct sock_filter *) add_filter };
        int size = PHX_UEVENT_RCVBUF;

        self->fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (self->fd < 0) {
                phx_error_set_errno (error, errno, "uevent socket");
                return NULL;
        }
        /* FORCE lets root go past net.core.rmem_max; without it the default buffer holds
         * a few hundred events, which is still a DIMM of 32 GiB */
        if (setsockopt (self->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                (void) setsockopt (self->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (setsockopt (self->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
                phx_error_set_errno (error, errno, "uevent socket: filter");
                return NULL;
        }
        if (bind (self->fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
                phx_error_set_errno (error, errno, "uevent socket: bind");
                return NULL;
        }
        self->source = g_unix_fd_add (self->fd, G_IO_IN, on_readable, self);
        return g_steal_pointer (&self);
}

static void
phx_uevent_dispose (GObject *object)
{
        PhxUevent *self = PHX_UEVENT (object);

        g_clear_handle_id (&self->source, g_source_remove);
        if (self->fd >= 0) {
                close (self->fd);
                self->fd = -1;
        }
        G_OBJECT_CLASS (phx_uevent_parent_class)->dispose (object);
}

static void
phx_uevent_class_init (PhxUeventClass *klass)
{
        G_OBJECT_CLASS (klass)->dispose = phx_uevent_dispose;
        signals[SIGNAL_EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                              NULL, G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                              G_TYPE_BOOLEAN);
}

static void
phx_uevent_init (PhxUevent *self)
{
        self->fd = -1;
}
