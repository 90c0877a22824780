/* phx-framer.c — splits the port's byte stream into requests. It never holds more than
 * the request limit: an over-long line is discarded as it arrives and reported once its
 * newline shows up, so a hostile host cannot make the agent allocate without bound.
 *
 * A Phoenix request is one line. A qemu-ga request ends at its closing brace, newline or not,
 * and a 0xFF byte throws away what was read of one (doc/protocol.md, "qemu-ga dialect"). So
 * the start of each request is read token by token, only as far as needed to tell which it
 * is: once its `execute` is a string not starting with "guest-" it is a Phoenix line, and
 * the rest is found with memchr as before, so a Phoenix line frames exactly as it always did. */
#define G_LOG_DOMAIN "phx-framer"

#include <string.h>

#include "phx-framer.h"
#include "phx-limits.h"
#include "phx-qga.h"

typedef enum {
        MODE_UNDECIDED, /* the request's start is read token by token */
        MODE_PHOENIX,   /* a Phoenix line: ends at its newline */
        MODE_QGA,       /* a qemu-ga request: ends at its closing brace */
} Mode;

typedef enum { KEY_OTHER, KEY_EXECUTE, KEY_ID, KEY_TAG } Key;

/* The few bytes of a top-level string kept to recognise execute/id/tag and a qemu-ga name:
 * "guest-", or this agent's own extensions' downstream prefix. */
#define WORD_MAX 16
G_STATIC_ASSERT (sizeof PHX_QGA_EXTENSION_PREFIX - 1 <= WORD_MAX);

struct _PhxFramer {
        gsize max_line;
        GByteArray *buf;      /* bytes of the current, unfinished request */
        gboolean draining;    /* the current line is over the limit: drop until newline */
        PhxFrameFunc func;
        gpointer user_data;

        /* the tokenizer, while the request's dialect is not known or is qemu-ga's */
        Mode mode;
        guint depth;          /* nesting of {} and [] */
        char quote;           /* inside a string opened by this quote, or 0 */
        gboolean escape;      /* the previous byte in the string was a backslash */
        gboolean expect_key;  /* at depth 1, a string here is a member name */
        gboolean string_is_key;
        Key last_key;
        gboolean saw_id, saw_tag;
        gboolean resyncing;   /* after a 0xFF: bytes up to the next '{' or newline are the torn request's */
        char word[WORD_MAX];  /* the string's first bytes */
        gsize word_len;       /* the string's length so far (in bytes, escapes counted raw) */
        gboolean word_escaped;   /* an escape anywhere: not a plain word */
        gboolean prefix_escaped; /* an escape in the first WORD_MAX bytes: not a plain name */
        gboolean stopped;     /* the consumer took the stream after the last frame */
};

PhxFramer *
phx_framer_new (gsize max_line, PhxFrameFunc func, gpointer user_data)
{
        PhxFramer *self = g_new0 (PhxFramer, 1);

        self->max_line = max_line;
        self->buf = g_byte_array_new ();
        self->func = func;
        self->user_data = user_data;
        return self;
}

void
phx_framer_free (PhxFramer *self)
{
        if (self == NULL)
                return;
        g_byte_array_unref (self->buf);
        g_free (self);
}

static gboolean
is_blank (char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static void
trim (const char **line, gsize *len)
{
        while (*len > 0 && is_blank ((*line)[*len - 1]))
                (*len)--;
        while (*len > 0 && is_blank (**line)) {
                (*line)++;
                (*len)--;
        }
}

/* A line that arrived within one read: copied, it is small in practice. */
static void
emit_copy (PhxFramer *self, const char *line, gsize len)
{
        g_autoptr(GBytes) bytes = NULL;
        char *copy;

        trim (&line, &len);
        if (len == 0)
                return;
        copy = g_malloc (len + 1);
        memcpy (copy, line, len);
        copy[len] = '\0';
        bytes = g_bytes_new_take (copy, len);
        self->func (PHX_FRAME_LINE, bytes, self->user_data);
}

/* A line gathered over several reads: the buffer itself is handed over, so a 64 MiB
 * file-write request is never copied. buf ends with the line's '\n'. */
static void
emit_buffer (PhxFramer *self)
{
        g_autoptr(GBytes) whole = NULL;
        g_autoptr(GBytes) bytes = NULL;
        const char *base, *line;
        gsize len = self->buf->len - 1;

        self->buf->data[len] = '\0';
        base = line = (const char *) self->buf->data;
        trim (&line, &len);
        whole = g_byte_array_free_to_bytes (g_steal_pointer (&self->buf));
        self->buf = g_byte_array_new ();
        if (len == 0)
                return;
        /* The byte after a trimmed line is a blank inside our own buffer: make it the NUL. */
        ((char *) line)[len] = '\0';
        bytes = g_bytes_new_from_bytes (whole, line - base, len);
        self->func (PHX_FRAME_LINE, bytes, self->user_data);
}

static void
release_buffer (PhxFramer *self)
{
        /* A 64 MiB line must not pin 64 MiB until the next one arrives. */
        if (self->buf->len > PHX_LINEBUF_KEEP) {
                g_byte_array_unref (self->buf);
                self->buf = g_byte_array_new ();
        } else {
                g_byte_array_set_size (self->buf, 0);
        }
}

static void
lex_reset (PhxFramer *self)
{
        self->mode = MODE_UNDECIDED;
        self->depth = 0;
        self->quote = 0;
        self->escape = FALSE;
        self->expect_key = FALSE;
        self->string_is_key = FALSE;
        self->last_key = KEY_OTHER;
        self->saw_id = FALSE;
        self->saw_tag = FALSE;
        self->word_len = 0;
        self->resyncing = FALSE;
}

static gboolean
word_is (PhxFramer *self, const char *w)
{
        gsize n = strlen (w);

        return !self->word_escaped && self->word_len == n && memcmp (self->word, w, n) == 0;
}

/* A string at depth 1 ended: a member name, or a value whose name we remember. */
static void
string_ends (PhxFramer *self)
{
        if (self->string_is_key) {
                self->last_key = word_is (self, "execute") ? KEY_EXECUTE :
                                 word_is (self, "id") ? KEY_ID :
                                 word_is (self, "tag") ? KEY_TAG : KEY_OTHER;
                self->saw_id = self->saw_id || self->last_key == KEY_ID;
                self->saw_tag = self->saw_tag || self->last_key == KEY_TAG;
                return;
        }
        if (self->last_key == KEY_EXECUTE)
                self->mode = !self->prefix_escaped && phx_qga_is_name (self->word, self->word_len) ?
                             MODE_QGA : MODE_PHOENIX;
}

/* The whole of data[start, start + n), after what the buffer holds, is one request (or a
 * line): hand it over, or report it over-long. */
static void
finish_frame (PhxFramer *self, const char *data, gsize n)
{
        if (self->buf->len + n > self->max_line) {
                release_buffer (self);
                self->func (PHX_FRAME_OVERLONG, NULL, self->user_data);
                return;
        }
        if (self->buf->len == 0) {
                emit_copy (self, data, n);
        } else {
                g_byte_array_append (self->buf, (const guint8 *) data, n);
                g_byte_array_append (self->buf, (const guint8 *) "\n", 1);
                emit_buffer (self);
        }
}

typedef enum { EV_NONE, EV_LINE, EV_OBJECT, EV_RESYNC, EV_SKIP } Event;

/* One byte of an undecided or qemu-ga request. */
static Event
lex (PhxFramer *self, guchar c)
{
        /* the rest of a request torn by 0xFF (its tail may hold quotes and braces) is
         * dropped up to where the next one starts, as qemu-ga's parser recovers */
        if (self->resyncing) {
                if (c == 0xff)
                        return EV_RESYNC;
                /* a newline ends the torn request too (as in qemu-ga's lexer): the next line
                 * is a request of its own, answered like any other */
                if (c == '\n') {
                        self->resyncing = FALSE;
                        return EV_SKIP;
                }
                if (c != '{')
                        return EV_SKIP;
                self->resyncing = FALSE;
        }
        if (self->quote != 0) {
                if (c == 0xff && self->mode == MODE_QGA)
                        return EV_RESYNC;
                if (c == '\n' && self->mode == MODE_UNDECIDED)
                        return EV_LINE;
                if (self->escape) {
                        self->escape = FALSE;
                } else if (c == '\\') {
                        self->escape = TRUE;
                        self->word_escaped = TRUE;
                        self->prefix_escaped = self->prefix_escaped || self->word_len < WORD_MAX;
                } else if (c == (guchar) self->quote) {
                        self->quote = 0;
                        if (self->depth == 1)
                                string_ends (self);
                } else {
                        if (self->word_len < WORD_MAX)
                                self->word[self->word_len] = (char) c;
                        self->word_len++;
                }
                return EV_NONE;
        }
        switch (c) {
        case 0xff:
                return EV_RESYNC;
        case '\n':
                return self->mode == MODE_UNDECIDED || self->depth == 0 ? EV_LINE : EV_NONE;
        case ' ': case '\t': case '\r':
                return EV_NONE;
        default:
                break;
        }
        if (self->depth == 0 && c != '{') {
                /* not an object: not a qemu-ga request we frame by braces */
                self->mode = MODE_PHOENIX;
                return EV_NONE;
        }
        switch (c) {
        case '"': case '\'':
                self->quote = (char) c;
                self->escape = FALSE;
                self->string_is_key = self->depth == 1 && self->expect_key;
                self->word_len = 0;
                self->word_escaped = FALSE;
                self->prefix_escaped = FALSE;
                break;
        case '{': case '[':
                self->depth++;
                self->expect_key = self->depth == 1;
                break;
        case '}': case ']':
                if (self->depth > 0 && --self->depth == 0) {
                        if (self->mode == MODE_QGA || (self->mode == MODE_UNDECIDED && self->saw_id &&
                                                       !self->saw_tag))
                                return EV_OBJECT;
                        self->mode = MODE_PHOENIX;
                }
                break;
        case ':':
                if (self->depth == 1)
                        self->expect_key = FALSE;
                break;
        case ',':
                if (self->depth == 1)
                        self->expect_key = TRUE;
                break;
        default:
                break;
        }
        return EV_NONE;
}

/* A whole line [p, end) that no token-by-token reading could make a qemu-ga request: no
 * string starting "g (a "guest-" name), "_ (an extension's) or "i (an "id"), no single
 * quote, no 0xFF. Most
 * Phoenix lines are such (a ping is), and are cut with memchr alone. */
static gboolean
plainly_phoenix_bytes (const char *p, const char *end)
{
        for (; p < end; p++) {
                guchar c = (guchar) *p;

                if (c == '\'' || c == 0xff)
                        return FALSE;
                if (c == '"' && p + 1 < end && (p[1] == 'g' || p[1] == 'i' || p[1] == '_'))
                        return FALSE;
        }
        return TRUE;
}

#define ONES G_GUINT64_CONSTANT (0x0101010101010101)
#define HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

/* The high bit of every zero byte of x is set (and perhaps of a byte above one, which only
 * sends the caller to the exact loop). */
static inline guint64
zero_bytes (guint64 x)
{
        return (x - ONES) & ~x & HIGHS;
}

static gboolean
plainly_phoenix (const char *p, const char *end)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
        /* This runs on every Phoenix request: 7 bytes a step, each paired with the next
         * (an 8-byte load), without a branch per byte; a hit is re-checked exactly. */
        while (end - p >= 8) {
                guint64 w, next, hit;

                memcpy (&w, p, 8);
                next = w >> 8;
                hit = zero_bytes (w ^ (ONES * '\'')) | zero_bytes (w ^ (ONES * 0xff)) |
                      (zero_bytes (w ^ (ONES * '"')) &
                       (zero_bytes (next ^ (ONES * 'g')) | zero_bytes (next ^ (ONES * 'i')) |
                        zero_bytes (next ^ (ONES * '_'))));
                if ((hit & (HIGHS >> 8)) != 0)
                        return plainly_phoenix_bytes (p, end);
                p += 7;
        }
#endif
        return plainly_phoenix_bytes (p, end);
}

/* Inside a qemu-ga string past its first bytes (a guest-file-write's megabytes of base64):
 * the next byte the tokenizer must see is its closing quote, a backslash or 0xFF. Found
 * with memchr instead of byte by byte: the tokenizer would cost more than the write. */
static gsize
string_body_end (PhxFramer *self, const char *data, gsize i, gsize len)
{
        const char *p = data + i;
        const char *stop = memchr (p, self->quote, len - i);
        const char *found;

        if (stop == NULL)
                stop = data + len;
        if ((found = memchr (p, '\\', stop - p)) != NULL)
                stop = found;
        if ((found = memchr (p, 0xff, stop - p)) != NULL)
                stop = found;
        return stop - data;
}

/* Returns how many bytes were taken: all of them, unless a frame's consumer called
 * phx_framer_stop, in which case the bytes after that frame were not looked at. */
gsize
phx_framer_push (PhxFramer *self, const char *data, gsize len)
{
        gsize start = 0, i = 0;
        const char *known_nl = NULL; /* the newline plainly_phoenix just found */

        self->stopped = FALSE;
        while (i < len) {
                /* every path that emits a frame comes back here before reading on */
                if (self->stopped)
                        return start;
                if (self->draining) {
                        const char *nl = memchr (data + i, '\n', len - i);
                        const char *ff = self->mode != MODE_PHOENIX ? memchr (data + i, 0xff, len - i) : NULL;

                        if (ff != NULL && (nl == NULL || ff < nl)) {
                                /* qemu-ga's resync ends an over-long request too, silently; one
                                 * whose dialect was not known yet may have been a Phoenix line,
                                 * which gets its over-long error (one reply per line), and the
                                 * rest of its line is the torn request's */
                                gboolean undecided = self->mode == MODE_UNDECIDED;

                                self->draining = FALSE;
                                lex_reset (self);
                                start = i = ff - data + 1;
                                if (undecided) {
                                        self->resyncing = TRUE;
                                        self->func (PHX_FRAME_OVERLONG, NULL, self->user_data);
                                }
                                continue;
                        }
                        if (nl == NULL)
                                return len;
                        self->draining = FALSE;
                        lex_reset (self);
                        start = i = nl - data + 1;
                        self->func (PHX_FRAME_OVERLONG, NULL, self->user_data);
                        continue;
                }
                if (self->mode == MODE_UNDECIDED && self->depth == 0 && self->quote == 0 &&
                    !self->resyncing && self->buf->len == 0 && i == start) {
                        const char *nl = memchr (data + i, '\n', len - i);

                        if (nl != NULL && plainly_phoenix (data + i, nl)) {
                                self->mode = MODE_PHOENIX;
                                known_nl = nl;
                        }
                }
                if (self->mode == MODE_PHOENIX) {
                        const char *nl = known_nl != NULL ? known_nl : memchr (data + i, '\n', len - i);

                        known_nl = NULL;

                        if (nl == NULL) {
                                i = len;
                                break;
                        }
                        i = nl - data;
                        finish_frame (self, data + start, i - start);
                        lex_reset (self);
                        start = ++i;
                        continue;
                }
                if (self->mode == MODE_QGA && self->quote != 0 && !self->escape && !self->resyncing &&
                    self->word_len >= WORD_MAX) {
                        gsize stop = string_body_end (self, data, i, len);

                        if (stop > i) {
                                self->word_len += stop - i;
                                i = stop;
                                continue;
                        }
                }
                switch (lex (self, (guchar) data[i])) {
                case EV_NONE:
                        i++;
                        break;
                case EV_LINE:
                        finish_frame (self, data + start, i - start);
                        lex_reset (self);
                        start = ++i;
                        break;
                case EV_OBJECT:
                        finish_frame (self, data + start, i + 1 - start);
                        lex_reset (self);
                        start = ++i;
                        break;
                case EV_RESYNC:
                        /* A request whose dialect was not known yet may have been a Phoenix
                         * line: it is answered as the line it was (its parse error), so a
                         * Phoenix host still gets one reply per line. A qemu-ga request torn
                         * by 0xFF is dropped, as its clients want (doc/protocol.md). */
                        if (self->mode == MODE_UNDECIDED)
                                finish_frame (self, data + start, i - start);
                        else
                                release_buffer (self);
                        lex_reset (self);
                        self->resyncing = TRUE;
                        start = ++i;
                        break;
                case EV_SKIP:
                        start = ++i;
                        break;
                }
        }
        if (self->stopped)
                return start;
        if (self->buf->len + (len - start) > self->max_line) {
                release_buffer (self);
                self->draining = TRUE;
                return len;
        }
        g_byte_array_append (self->buf, (const guint8 *) data + start, len - start);
        return len;
}

/* Called by the consumer from within a frame: the bytes after that frame are not requests
 * (a login turned the connection into a terminal stream); push returns at once with what
 * it took. */
void
phx_framer_stop (PhxFramer *self)
{
        self->stopped = TRUE;
}

void
phx_framer_reset (PhxFramer *self)
{
        self->draining = FALSE;
        lex_reset (self);
        release_buffer (self);
}

gsize
phx_framer_get_buffered (PhxFramer *self)
{
        return self->buf->len;
}
