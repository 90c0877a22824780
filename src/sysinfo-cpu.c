/* sysinfo-cpu.c — load averages and CPU time counters, read from /proc. */
#define G_LOG_DOMAIN "sysinfo-cpu"

#include <string.h>

#include "phx-error.h"
#include "phx-limits.h"
#include "sysinfo-cpu.h"
#include "sysinfo-file.h"

gboolean
phx_cpu_loadavg (double load[3], GError **error)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) fields = NULL;

        /* /proc/loadavg has the kernel's own rounding; sysinfo(2) loads are fixed-point. */
        if (!phx_sysinfo_read_file ("/proc/loadavg", PHX_PROC_LOADAVG_MAX, &text, NULL, error))
                return FALSE;
        fields = g_strsplit (text, " ", 4);
        if (g_strv_length (fields) < 4) {
                phx_error_set (error, PHX_ERROR_GENERIC, "unexpected /proc/loadavg format");
                return FALSE;
        }
        for (guint i = 0; i < 3; i++)
                load[i] = g_ascii_strtod (fields[i], NULL);
        return TRUE;
}

GArray *
phx_cpu_times_parse (const char *text)
{
        GArray *cpus = g_array_new (FALSE, TRUE, sizeof (PhxCpuTimes));
        g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

        for (guint i = 0; lines[i] != NULL; i++) {
                PhxCpuTimes t = { 0 };
                guint64 cpu;
                char *p, *end;

                if (!g_str_has_prefix (lines[i], "cpu") || !g_ascii_isdigit (lines[i][3]))
                        continue;
                cpu = g_ascii_strtoull (lines[i] + 3, &end, 10);
                if (cpu > G_MAXUINT || (*end != ' ' && *end != '\t'))
                        continue;
                t.cpu = cpu;
                for (p = end; t.n_times < PHX_CPU_TIMES_MAX; p = end) {
                        while (*p == ' ' || *p == '\t')
                                p++;
                        if (!g_ascii_isdigit (*p))
                                break;
                        t.ticks[t.n_times++] = g_ascii_strtoull (p, &end, 10);
                }
                if (t.n_times >= 4)
                        g_array_append_val (cpus, t);
        }
        return cpus;
}

GArray *
phx_cpu_times_read (GError **error)
{
        g_autofree char *text = NULL;

        if (!phx_sysinfo_read_file ("/proc/stat", PHX_PROC_STAT_MAX, &text, NULL, error))
                return NULL;
        return phx_cpu_times_parse (text);
}
