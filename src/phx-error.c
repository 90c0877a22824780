/* phx-error.c — errno-preserving errors. Helpers create them; only phx_error_wire_code()
 * decides what code the host sees. */
#define G_LOG_DOMAIN "phx-error"

#include "phx-error.h"

G_DEFINE_QUARK (phx-error-quark, phx_error)

void
phx_error_set_errno (GError **error, int errsv, const char *format, ...)
{
        g_autofree char *what = NULL;
        va_list ap;

        va_start (ap, format);
        what = g_strdup_vprintf (format, ap);
        va_end (ap);
        g_set_error (error, PHX_ERROR, errsv, "%s: %s", what, g_strerror (errsv));
}

void
phx_error_set (GError **error, int code, const char *format, ...)
{
        va_list ap;

        if (error == NULL)
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
