/* sysinfo-cpu.h — the load averages and the per-CPU time counters of /proc. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The 1, 5 and 15 minute load averages as /proc/loadavg prints them. */
gboolean phx_cpu_loadavg (double load[3], GError **error);

/* /proc/stat's columns, in its order: user nice system idle iowait irq softirq steal guest
 * guest_nice. Older kernels print fewer. */
#define PHX_CPU_TIMES_MAX 10

typedef struct {
        guint cpu;
        guint n_times; /* columns present, >= 4 */
        guint64 ticks[PHX_CPU_TIMES_MAX];
} PhxCpuTimes;

/* The `cpuN` lines of /proc/stat text (the all-CPU `cpu` line is left out), in order. */
GArray *phx_cpu_times_parse (const char *text);
GArray *phx_cpu_times_read (GError **error);

G_END_DECLS
