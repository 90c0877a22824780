/* phx-error.c — errno-preserving errors. Helpers create them; only phx_error_wire_code()
 * decides what code the host sees. */
#define G_LOG_DOMAIN "phx-error"

#include <locale.h>
#include <string.h>

#include "phx-error.h"

G_DEFINE_QUARK (phx-error-quark, phx_error)

/* Messages on the wire stay English whatever the guest's locale (the host's tools match on
 * them), so errno texts come from the C locale, not from g_strerror(). */
static const char *
strerror_c (int errsv)
{
        static gsize once;
        static locale_t c_locale;

        if (g_once_init_enter (&once)) {
                c_locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);
                g_once_init_leave (&once, 1);
        }
        return c_locale != (locale_t) 0 ? strerror_l (errsv, c_locale) : g_strerror (errsv);
}

/* g_set_error's rule: the first error wins and the second is a programmer error worth a
 * warning. Overwriting would leak the first GError and, worse, report the later, usually
 * less precise failure (a cleanup's errno instead of the call that failed). */
static gboolean G_GNUC_PRINTF (2, 0)
may_set (GError **error, const char *format, va_list ap)
{
        g_autofree char *lost = NULL;

        if (error == NULL)
                return FALSE;
        if (*error == NULL)
                return TRUE;
        lost = g_strdup_vprintf (format, ap);
        g_warning ("error set over the top of a previous one (kept: %s; dropped: %s)",
                   (*error)->message, lost);
        return FALSE;
}

void
phx_error_set_errno (GError **error, int errsv, const char *format, ...)
{
        g_autofree char *what = NULL;
        va_list ap;
        gboolean ok;

        va_start (ap, format);
        ok = may_set (error, format, ap);
        va_end (ap);
        if (!ok)
                return;
        va_start (ap, format);
        what = g_strdup_vprintf (format, ap);
        va_end (ap);
        *error = g_error_new (PHX_ERROR, errsv, "%s: %s", what, strerror_c (errsv));
}

void
phx_error_set (GError **error, int code, const char *format, ...)
{
        va_list ap;
        gboolean ok;

        va_start (ap, format);
        ok = may_set (error, format, ap);
        va_end (ap);
        if (!ok)
                return;
        va_start (ap, format);
        *error = g_error_new_valist (PHX_ERROR, code, format, ap);
        va_end (ap);
}

/* Errors from other domains (GIO, GKeyFile, ...) carry codes that are not errno values,
 * so they must never leak onto the wire as if they were. */
gint
phx_error_wire_code (const GError *error)
{
        if (error == NULL || error->domain != PHX_ERROR)
                return PHX_ERROR_GENERIC;
        if (error->code <= 0)
                return PHX_ERROR_GENERIC;
        return error->code;
}
