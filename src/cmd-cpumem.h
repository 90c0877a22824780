/* cmd-cpumem.h — the vCPU and memory-block family (see cmd-cpumem.c). */
#pragma once

#include "phx-family.h"

G_BEGIN_DECLS

#define PHX_TYPE_CPUMEM_FAMILY (phx_cpumem_family_get_type ())
G_DECLARE_FINAL_TYPE (PhxCpumemFamily, phx_cpumem_family, PHX, CPUMEM_FAMILY, PhxFamily)

/* online_hotplug: bring vCPUs and memory blocks the host hot-adds online (the family then
 * listens to the kernel's uevents for as long as it lives). */
PhxCpumemFamily *phx_cpumem_family_new (gboolean online_hotplug);

G_END_DECLS
