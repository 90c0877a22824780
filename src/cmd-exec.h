/* cmd-exec.h — the family that runs commands for the host (exec, guest-exec). */
#pragma once

#include "phx-family.h"

G_BEGIN_DECLS

#define PHX_TYPE_EXEC_FAMILY (phx_exec_family_get_type ())

/* capture_max: bytes kept per output stream of one command (0: PHX_EXEC_CAPTURE_MAX) */
PhxFamily *phx_exec_family_new (gsize capture_max);

G_END_DECLS
