/* phx-config.h — the daemon's settings: defaults, the configuration file (GKeyFile, one
 * [general] group whose keys mirror the long options) and the command line over both. */
#pragma once

#include <glib.h>

#include "phx-channel.h"

G_BEGIN_DECLS

#define PHX_DEFAULT_VIRTIO_PATH "/dev/virtio-ports/org.guest-agent.0"
#define PHX_DEFAULT_ISA_PATH "/dev/ttyS0"
#define PHX_DEFAULT_SOCKET_PATH "/run/phoenix-ga.sock"
#define PHX_DEFAULT_RUNTIME_DIR "/run/phoenix-ga"
#define PHX_DEFAULT_CONFIG_FILE PHX_SYSCONFDIR "/phoenix-ga/phoenix-ga.conf"

typedef struct {
        PhxMethod method;
        char *path;           /* NULL: the method's default */
        gboolean debug;
        guint freeze_timeout; /* seconds, 0 = never */
        char *fsfreeze_hook;  /* NULL: none */
        char *runtime_dir;
        gboolean dbus;
        GStrv block_commands; /* NULL: none */
        GStrv allow_commands; /* NULL: all */
        guint socket_mode;    /* unix-listen: permission bits of the socket */
        gsize exec_capture_max; /* bytes of output kept per stream of a command */
        guint dialects;       /* the dialects the port serves: 1 << PhxDialect (PHX_DIALECTS_ALL) */
        guint clients_max;    /* listening transports: clients at once */
        guint client_idle_timeout;  /* seconds, 0 = never */
        guint client_stall_timeout; /* seconds, 0 = never */
        gboolean vsock_any_peer;    /* vsock-listen: serve peers other than the host */
        GStrv channels;       /* more channels, "METHOD:PATH" each; NULL: none */
        gboolean online_hotplug; /* bring hot-added vCPUs and memory online */
} PhxConfig;

void phx_config_init (PhxConfig *config);
void phx_config_clear (PhxConfig *config);
gboolean phx_config_set (PhxConfig *config, const char *key, const char *value, GError **error);
gboolean phx_config_add_channel (PhxConfig *config, const char *spec, GError **error);
gboolean phx_config_load (PhxConfig *config, const char *file, gboolean must_exist, GError **error);
GStrv phx_config_split_list (const char *text);
const char *phx_config_default_path (PhxMethod method);
gboolean phx_config_check_hook (const char *path, GError **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PhxConfig, phx_config_clear)

G_END_DECLS
