/* test-sysinfo.c — the system-information readers' parsers: os-release unescaping, /proc/stat
 * CPU lines, bounded file reads, utmp records and logind session files (real files in a
 * temporary directory). */
#include <errno.h>
#include <string.h>
#include <utmp.h>

#include <glib/gstdio.h>

#include "phx-error.h"
#include "sysinfo-cpu.h"
#include "sysinfo-file.h"
#include "sysinfo-os.h"
#include "sysinfo-users.h"

static void
check_value (GHashTable *vars, const char *key, const char *expected)
{
        g_assert_cmpstr (g_hash_table_lookup (vars, key), ==, expected);
}

static void
test_os_release_qemu_file (void)
{
        /* QEMU's own test file for qemu-ga, with the values its test expects */
        g_autoptr(GHashTable) v = phx_os_release_parse ("ID=qemu-ga-test\n"
                                                        "NAME=QEMU-GA\n"
                                                        "PRETTY_NAME=\"QEMU Guest Agent test\"\n"
                                                        "VERSION=\"Test version\"\n"
                                                        "VERSION_ID=1\n"
                                                        "VARIANT=\"Unit test \\\"\\'$\\`\\\\ and \\\\\\\\ etc.\"\n"
                                                        "VARIANT_ID=\"unit-test\"\n");

        check_value (v, "ID", "qemu-ga-test");
        check_value (v, "NAME", "QEMU-GA");
        check_value (v, "PRETTY_NAME", "QEMU Guest Agent test");
        check_value (v, "VERSION", "Test version");
        check_value (v, "VERSION_ID", "1");
        check_value (v, "VARIANT", "Unit test \"'$`\\ and \\\\ etc.");
        check_value (v, "VARIANT_ID", "unit-test");
        g_assert_cmpuint (g_hash_table_size (v), ==, 7);
}

static void
test_os_release_edges (void)
{
        g_autoptr(GHashTable) v = phx_os_release_parse ("# ID=commented\n"
                                                        "\n"
                                                        "  A = spaced  \r\n"
                                                        "B=\"  keep  \"  trailing junk\n"
                                                        "C='single \\ $x'\n"
                                                        "D=un\\ quoted\\\"x rest\n"
                                                        "E=\"unterminated\n"
                                                        "F=\n"
                                                        "G=\"\"\n"
                                                        "not an assignment\n"
                                                        "bad-key=1\n"
                                                        "=novar\n"
                                                        "H=\"a\\nb\\\\\"\n"
                                                        "I=first\n"
                                                        "I=second\n"
                                                        "J=\"x\\\n"
                                                        "K=\xff\xfe\n");

        check_value (v, "A", "spaced");
        check_value (v, "B", "  keep  ");
        check_value (v, "C", "single \\ $x");
        check_value (v, "D", "un quoted\"x");
        check_value (v, "E", "unterminated");
        check_value (v, "F", "");
        check_value (v, "G", "");
        check_value (v, "H", "a\\nb\\");
        check_value (v, "I", "second");
        check_value (v, "J", "x\\");
        g_assert_true (g_utf8_validate (g_hash_table_lookup (v, "K"), -1, NULL));
        g_assert_null (g_hash_table_lookup (v, "ID"));
        g_assert_null (g_hash_table_lookup (v, "bad-key"));
        g_assert_cmpuint (g_hash_table_size (v), ==, 11);
}

static void
test_os_release_empty (void)
{
        g_autoptr(GHashTable) v = phx_os_release_parse ("");

        g_assert_cmpuint (g_hash_table_size (v), ==, 0);
}

static void
test_cpu_times (void)
{
        g_autoptr(GArray) cpus = phx_cpu_times_parse ("cpu  10 20 30 40 50 60 70 80 90 100\n"
                                                      "cpu0 1 2 3 4 5 6 7 8 9 10 11 12\n"
                                                      "cpu7 1 2 3 4\n"
                                                      "cpu8 1 2 3\n"
                                                      "cpufreq 1 2 3 4\n"
                                                      "cpu9\t18446744073709551615 0 0 0 5\n"
                                                      "intr 1 2 3\n");
        const PhxCpuTimes *t;

        g_assert_cmpuint (cpus->len, ==, 3);
        t = &g_array_index (cpus, PhxCpuTimes, 0);
        g_assert_cmpuint (t->cpu, ==, 0);
        g_assert_cmpuint (t->n_times, ==, PHX_CPU_TIMES_MAX);
        g_assert_cmpuint (t->ticks[9], ==, 10);
        t = &g_array_index (cpus, PhxCpuTimes, 1);
        g_assert_cmpuint (t->cpu, ==, 7);
        g_assert_cmpuint (t->n_times, ==, 4);
        t = &g_array_index (cpus, PhxCpuTimes, 2);
        g_assert_cmpuint (t->cpu, ==, 9);
        g_assert_cmpuint (t->n_times, ==, 5);
        g_assert_cmpuint (t->ticks[0], ==, G_MAXUINT64);
}

static char *
temp_dir (void)
{
        g_autoptr(GError) error = NULL;
        char *dir = g_dir_make_tmp ("test-sysinfo-XXXXXX", &error);

        g_assert_no_error (error);
        return dir;
}

static void
test_read_file_bounds (void)
{
        g_autofree char *dir = temp_dir ();
        g_autofree char *path = g_build_filename (dir, "f", NULL);
        g_autofree char *missing = g_build_filename (dir, "missing", NULL);
        g_autofree char *big = g_malloc (10000);
        g_autoptr(GError) error = NULL;
        char *text = NULL;
        gsize len = 0;

        memset (big, 'x', 10000);
        g_assert_true (g_file_set_contents (path, big, 10000, NULL));
        g_assert_true (phx_sysinfo_read_file (path, 10000, &text, &len, &error));
        g_assert_no_error (error);
        g_assert_cmpuint (len, ==, 10000);
        g_assert_cmpint (text[len], ==, '\0');
        g_clear_pointer (&text, g_free);
        g_assert_false (phx_sysinfo_read_file (path, 9999, &text, &len, &error));
        g_assert_error (error, PHX_ERROR, EFBIG);
        g_clear_error (&error);
        g_assert_false (phx_sysinfo_read_file (missing, 100, &text, &len, &error));
        g_assert_error (error, PHX_ERROR, ENOENT);
        g_clear_error (&error);
        /* /proc files report size 0 and are still read whole */
        g_assert_true (phx_sysinfo_read_file ("/proc/self/status", 1 << 20, &text, &len, &error));
        g_assert_nonnull (strstr (text, "Pid:"));
        g_free (text);
        g_unlink (path);
        g_rmdir (dir);
}

static void
append_utmp (GByteArray *data, short type, const char *user, const char *line, gint32 sec, gint32 usec)
{
        struct utmp ut;

        memset (&ut, 0, sizeof ut);
        ut.ut_type = type;
        strncpy (ut.ut_user, user, sizeof ut.ut_user);
        strncpy (ut.ut_line, line, sizeof ut.ut_line);
        ut.ut_tv.tv_sec = sec;
        ut.ut_tv.tv_usec = usec;
        g_byte_array_append (data, (const guint8 *) &ut, sizeof ut);
}

static void
write_session (const char *dir, const char *id, const char *text)
{
        g_autofree char *path = g_build_filename (dir, id, NULL);

        g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
test_users (void)
{
        g_autofree char *dir = temp_dir ();
        g_autofree char *utmp = g_build_filename (dir, "utmp", NULL);
        g_autofree char *sessions = g_build_filename (dir, "sessions", NULL);
        g_autofree char *none = g_build_filename (dir, "none", NULL);
        g_autoptr(GByteArray) data = g_byte_array_new ();
        g_autoptr(GPtrArray) logins = NULL;
        g_autoptr(GError) error = NULL;
        PhxLogin *l;

        g_assert_cmpint (g_mkdir (sessions, 0700), ==, 0);
        write_session (sessions, "1", "USER=zoe\nCLASS=user\nSTATE=online\nTTY=/dev/tty2\nREALTIME=3000000\n");
        write_session (sessions, "2", "USER=amy\nCLASS=user-early\nREALTIME=2000000\nREMOTE_HOST=h\n");
        write_session (sessions, "3", "USER=zoe\nCLASS=user\nREALTIME=1500000\n");
        write_session (sessions, "4", "USER=bg\nCLASS=background\nREALTIME=1\n");
        write_session (sessions, "5", "USER=inc\nCLASS=user-incomplete\nREALTIME=1\n");
        write_session (sessions, "6", "USER=old\nCLASS=user\nSTATE=closing\nREALTIME=1\n");
        write_session (sessions, "7", "USER=bad\nCLASS=user\nREALTIME=12x\n");
        write_session (sessions, "8", "USER=\nCLASS=user\nREALTIME=5\n");
        write_session (sessions, "1.ref", "USER=fifo\nCLASS=user\nREALTIME=5\n");

        logins = phx_users_read_logind (sessions);
        g_assert_cmpuint (logins->len, ==, 3);
        l = g_ptr_array_index (logins, 0);
        g_assert_cmpstr (l->user, ==, "zoe");
        g_assert_cmpint (l->login_usec, ==, 1500000);
        l = g_ptr_array_index (logins, 1);
        g_assert_cmpstr (l->user, ==, "amy");
        g_assert_cmpstr (l->host, ==, "h");
        l = g_ptr_array_index (logins, 2);
        g_assert_cmpstr (l->line, ==, "tty2");
        g_clear_pointer (&logins, g_ptr_array_unref);

        /* no utmp: logind, one per user, earliest */
        logins = phx_users_first_logins (none, sessions);
        g_assert_cmpuint (logins->len, ==, 2);
        l = g_ptr_array_index (logins, 0);
        g_assert_cmpstr (l->user, ==, "zoe");
        g_assert_cmpint (l->login_usec, ==, 1500000);
        g_clear_pointer (&logins, g_ptr_array_unref);

        /* a utmp without logins: logind still */
        append_utmp (data, BOOT_TIME, "reboot", "~", 1, 0);
        g_assert_true (g_file_set_contents (utmp, (const char *) data->data, data->len, NULL));
        logins = phx_users_first_logins (utmp, sessions);
        g_assert_cmpuint (logins->len, ==, 2);
        g_clear_pointer (&logins, g_ptr_array_unref);

        /* a utmp with logins: utmp only; a torn last record is ignored */
        append_utmp (data, USER_PROCESS, "bob", "pts/1", 100, 5);
        append_utmp (data, DEAD_PROCESS, "dead", "pts/2", 10, 0);
        append_utmp (data, USER_PROCESS, "", "pts/3", 10, 0);
        append_utmp (data, USER_PROCESS, "bob", "pts/4", 50, 7);
        append_utmp (data, USER_PROCESS, "cy", "pts/5", 60, 0);
        g_byte_array_append (data, (const guint8 *) "torn", 4);
        g_assert_true (g_file_set_contents (utmp, (const char *) data->data, data->len, NULL));
        logins = phx_users_read_utmp (utmp, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (logins->len, ==, 3);
        g_clear_pointer (&logins, g_ptr_array_unref);
        logins = phx_users_first_logins (utmp, sessions);
        g_assert_cmpuint (logins->len, ==, 2);
        l = g_ptr_array_index (logins, 0);
        g_assert_cmpstr (l->user, ==, "bob");
        g_assert_cmpint (l->login_usec, ==, 50000007);
        g_assert_cmpstr (l->line, ==, "pts/1");
        l = g_ptr_array_index (logins, 1);
        g_assert_cmpstr (l->user, ==, "cy");
        g_clear_pointer (&logins, g_ptr_array_unref);

        g_assert_null (phx_users_read_utmp (none, &error));
        g_assert_error (error, PHX_ERROR, ENOENT);

        /* no utmp, no logind */
        logins = phx_users_first_logins (none, none);
        g_assert_cmpuint (logins->len, ==, 0);

        {
                g_autoptr(GDir) d = g_dir_open (sessions, 0, NULL);
                const char *name;
                while ((name = g_dir_read_name (d)) != NULL) {
                        g_autofree char *p = g_build_filename (sessions, name, NULL);
                        g_unlink (p);
                }
        }
        g_rmdir (sessions);
        g_unlink (utmp);
        g_rmdir (dir);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_add_func ("/sysinfo/os-release/qemu-file", test_os_release_qemu_file);
        g_test_add_func ("/sysinfo/os-release/edges", test_os_release_edges);
        g_test_add_func ("/sysinfo/os-release/empty", test_os_release_empty);
        g_test_add_func ("/sysinfo/cpu-times", test_cpu_times);
        g_test_add_func ("/sysinfo/read-file-bounds", test_read_file_bounds);
        g_test_add_func ("/sysinfo/users", test_users);
        return g_test_run ();
}
