/* The chat REPL's line editor: raw-mode terminal editing, or plain lines. */
#include "line_edit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

struct line_editor {
    int in, out;
    bool term;
    volatile sig_atomic_t *interrupted;
    struct termios saved;
    bool raw;
    char **hist;
    int n_hist, cap_hist;
    /* plain mode: a read buffer */
    char rbuf[4096];
    size_t rpos, rlen;
    int pushback; /* terminal mode: one byte read too far, or -1 */
    /* the line being edited */
    char *buf;
    size_t len, cap, pos;
    int cursor_row; /* rows between the prompt's first row and the cursor */
    const char *prompt, *cont;
};

/* ---- small helpers ------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, int v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    if (n > 0)
        sb_add(b, tmp, (size_t)n);
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static bool buf_reserve(line_editor *le, size_t extra)
{
    if (le->len + extra + 1 <= le->cap)
        return true;
    size_t cap = le->cap ? le->cap : 128;
    while (cap < le->len + extra + 1)
        cap *= 2;
    char *p = realloc(le->buf, cap);
    if (!p)
        return false;
    le->buf = p;
    le->cap = cap;
    return true;
}

static bool buf_insert(line_editor *le, const char *s, size_t n)
{
    if (!buf_reserve(le, n))
        return false;
    memmove(le->buf + le->pos + n, le->buf + le->pos, le->len - le->pos);
    memcpy(le->buf + le->pos, s, n);
    le->len += n;
    le->pos += n;
    le->buf[le->len] = 0;
    return true;
}

static void buf_delete(line_editor *le, size_t from, size_t to)
{
    memmove(le->buf + from, le->buf + to, le->len - to);
    le->len -= to - from;
    if (le->pos > to)
        le->pos -= to - from;
    else if (le->pos > from)
        le->pos = from;
    le->buf[le->len] = 0;
}

static bool buf_set(line_editor *le, const char *s)
{
    le->len = le->pos = 0;
    if (!buf_reserve(le, strlen(s)))
        return false;
    return buf_insert(le, s, strlen(s));
}

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

static size_t prev_char(const line_editor *le, size_t i)
{
    if (i == 0)
        return 0;
    i--;
    while (i > 0 && is_cont((unsigned char)le->buf[i]))
        i--;
    return i;
}

static size_t next_char(const line_editor *le, size_t i)
{
    if (i >= le->len)
        return le->len;
    i++;
    while (i < le->len && is_cont((unsigned char)le->buf[i]))
        i++;
    return i;
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t'; }

static size_t word_left(const line_editor *le, size_t i)
{
    while (i > 0 && is_space(le->buf[i - 1]))
        i--;
    while (i > 0 && !is_space(le->buf[i - 1]))
        i--;
    return i;
}

static size_t word_right(const line_editor *le, size_t i)
{
    while (i < le->len && is_space(le->buf[i]))
        i++;
    while (i < le->len && !is_space(le->buf[i]))
        i++;
    return i;
}

/* ---- creation ------------------------------------------------------------------- */

line_editor *le_new(int in_fd, int out_fd, bool force_plain, volatile sig_atomic_t *interrupted)
{
    line_editor *le = calloc(1, sizeof *le);
    if (!le)
        return NULL;
    le->in = in_fd;
    le->out = out_fd;
    le->interrupted = interrupted;
    le->pushback = -1;
    le->term = !force_plain && isatty(in_fd) && isatty(out_fd) && tcgetattr(in_fd, &le->saved) == 0;
    return le;
}

static void raw_off(line_editor *le)
{
    if (!le->raw)
        return;
    write_all(le->out, "\x1b[?2004l", 8); /* bracketed paste off */
    tcsetattr(le->in, TCSADRAIN, &le->saved);
    le->raw = false;
}

static bool raw_on(line_editor *le)
{
    struct termios raw = le->saved;
    raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_cflag |= CS8;
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    /* TCSADRAIN, not TCSAFLUSH: keep what was typed ahead */
    if (tcsetattr(le->in, TCSADRAIN, &raw) != 0)
        return false;
    le->raw = true;
    write_all(le->out, "\x1b[?2004h", 8); /* bracketed paste on */
    return true;
}

void le_free(line_editor *le)
{
    if (!le)
        return;
    raw_off(le);
    for (int i = 0; i < le->n_hist; i++)
        free(le->hist[i]);
    free(le->hist);
    free(le->buf);
    free(le);
}

bool le_is_terminal(const line_editor *le) { return le->term; }

void le_history_add(line_editor *le, const char *line)
{
    if (!line || !*line)
        return;
    if (le->n_hist > 0 && strcmp(le->hist[le->n_hist - 1], line) == 0)
        return;
    if (le->n_hist == le->cap_hist) {
        int cap = le->cap_hist ? le->cap_hist * 2 : 32;
        char **h = realloc(le->hist, (size_t)cap * sizeof *h);
        if (!h)
            return;
        le->hist = h;
        le->cap_hist = cap;
    }
    char *copy = strdup(line);
    if (copy)
        le->hist[le->n_hist++] = copy;
}

static le_status take_line(line_editor *le, char **line)
{
    *line = malloc(le->len + 1);
    if (!*line)
        return LE_ERROR;
    memcpy(*line, le->buf ? le->buf : "", le->len);
    (*line)[le->len] = 0;
    return LE_LINE;
}

/* ---- plain mode ------------------------------------------------------------------ */

/* A byte, -1 at end of input, -2 when interrupted, -3 on error. */
static int plain_getc(line_editor *le)
{
    if (le->rpos == le->rlen) {
        for (;;) {
            ssize_t n = read(le->in, le->rbuf, sizeof le->rbuf);
            if (n > 0) {
                le->rpos = 0;
                le->rlen = (size_t)n;
                break;
            }
            if (n == 0)
                return -1;
            if (errno != EINTR)
                return -3;
            if (le->interrupted && *le->interrupted)
                return -2;
        }
    }
    return (unsigned char)le->rbuf[le->rpos++];
}

static le_status plain_read(line_editor *le, char **line)
{
    for (;;) {
        int c = plain_getc(le);
        if (c == -2)
            return LE_INTERRUPT;
        if (c == -3)
            return LE_ERROR;
        if (c == -1)
            return le->len > 0 ? take_line(le, line) : LE_EOF;
        if (c != '\n') {
            char ch = (char)c;
            if (!buf_insert(le, &ch, 1))
                return LE_ERROR;
            continue;
        }
        if (le->len > 0 && le->buf[le->len - 1] == '\r')
            le->buf[--le->len] = 0;
        if (le->len > 0 && le->buf[le->len - 1] == '\\') {
            le->buf[le->len - 1] = '\n'; /* continues on the next line */
            continue;
        }
        return take_line(le, line);
    }
}

/* ---- terminal mode --------------------------------------------------------------- */

static int term_getc(line_editor *le)
{
    if (le->pushback >= 0) {
        int c = le->pushback;
        le->pushback = -1;
        return c;
    }
    for (;;) {
        unsigned char c;
        ssize_t n = read(le->in, &c, 1);
        if (n == 1)
            return c;
        if (n == 0)
            return -1;
        if (errno != EINTR)
            return -3;
    }
}

static int term_cols(const line_editor *le)
{
    struct winsize ws;
    if (ioctl(le->out, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Lays out text from (row, col) on a terminal `cols` wide, each code point one
 * cell; '\n' starts a new row that begins with the continuation prompt. Writes
 * what is shown to out when out is not NULL. */
static void lay_out(const line_editor *le, const char *s, size_t n, int cols, int *row, int *col,
                    strbuf *out, bool is_prompt)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' && !is_prompt) {
            (*row)++;
            *col = 0;
            if (out)
                sb_str(out, "\r\n");
            lay_out(le, le->cont, strlen(le->cont), cols, row, col, out, true);
            continue;
        }
        if (!is_cont(c)) {
            if (*col >= cols) {
                (*row)++;
                *col = 0;
            }
            (*col)++;
        }
        if (out) {
            if (c < 0x20 || c == 0x7f)
                sb_add(out, " ", 1); /* tabs and other controls show as a space */
            else
                sb_add(out, (const char *)&s[i], 1);
        }
    }
}

static void refresh(line_editor *le)
{
    int cols = term_cols(le);
    strbuf b = { 0 };
    if (le->cursor_row > 0)
        sb_fmt(&b, "\x1b[%dA", le->cursor_row);
    sb_str(&b, "\r\x1b[J");
    int er = 0, ec = 0;
    lay_out(le, le->prompt, strlen(le->prompt), cols, &er, &ec, &b, true);
    lay_out(le, le->buf, le->len, cols, &er, &ec, &b, false);
    if (ec >= cols) { /* leave the pending wrap: go to the next row */
        sb_str(&b, "\r\n");
        er++;
        ec = 0;
    }
    int cr = 0, cc = 0;
    lay_out(le, le->prompt, strlen(le->prompt), cols, &cr, &cc, NULL, true);
    lay_out(le, le->buf, le->pos, cols, &cr, &cc, NULL, false);
    if (cc >= cols) {
        cr++;
        cc = 0;
    }
    if (er > cr)
        sb_fmt(&b, "\x1b[%dA", er - cr);
    sb_str(&b, "\r");
    if (cc > 0)
        sb_fmt(&b, "\x1b[%dC", cc);
    if (!b.failed)
        write_all(le->out, b.p, b.n);
    free(b.p);
    le->cursor_row = cr;
}

/* Inserts a byte read from the terminal, completing a UTF-8 sequence first. */
static bool insert_char(line_editor *le, int c)
{
    char seq[4];
    int n = 1, need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    seq[0] = (char)c;
    while (need-- > 0) {
        int d = term_getc(le);
        if (d < 0)
            break;
        if (!is_cont((unsigned char)d)) {
            le->pushback = d;
            break;
        }
        seq[n++] = (char)d;
    }
    return buf_insert(le, seq, (size_t)n);
}

typedef enum {
    K_NONE, K_UP, K_DOWN, K_LEFT, K_RIGHT, K_WORD_LEFT, K_WORD_RIGHT, K_HOME, K_END,
    K_DELETE, K_KILL_WORD, K_PASTE_START, K_PASTE_END,
} key;

/* Reads the rest of an escape sequence (the ESC is consumed). */
static key read_escape(line_editor *le)
{
    int c = term_getc(le);
    if (c == '[') {
        char params[16];
        int n = 0;
        for (;;) {
            c = term_getc(le);
            if (c < 0)
                return K_NONE;
            if (c >= 0x40 && c <= 0x7e)
                break; /* the final byte */
            if (n < (int)sizeof params - 1)
                params[n++] = (char)c;
        }
        params[n] = 0;
        bool mod = strchr(params, ';') != NULL; /* 1;5C = Ctrl-right, 1;3C = Alt-right */
        switch (c) {
        case 'A': return K_UP;
        case 'B': return K_DOWN;
        case 'C': return mod ? K_WORD_RIGHT : K_RIGHT;
        case 'D': return mod ? K_WORD_LEFT : K_LEFT;
        case 'H': return K_HOME;
        case 'F': return K_END;
        case '~':
            if (!strcmp(params, "1") || !strcmp(params, "7")) return K_HOME;
            if (!strcmp(params, "4") || !strcmp(params, "8")) return K_END;
            if (!strcmp(params, "3")) return K_DELETE;
            if (!strcmp(params, "200")) return K_PASTE_START;
            if (!strcmp(params, "201")) return K_PASTE_END;
            return K_NONE;
        default: return K_NONE;
        }
    }
    if (c == 'O') {
        switch (term_getc(le)) {
        case 'A': return K_UP;
        case 'B': return K_DOWN;
        case 'C': return K_RIGHT;
        case 'D': return K_LEFT;
        case 'H': return K_HOME;
        case 'F': return K_END;
        default: return K_NONE;
        }
    }
    if (c == 'b') return K_WORD_LEFT;  /* Alt-b */
    if (c == 'f') return K_WORD_RIGHT; /* Alt-f */
    if (c == 127 || c == 8) return K_KILL_WORD; /* Alt-Backspace */
    return K_NONE;
}

static le_status term_read(line_editor *le, char **line)
{
    int hist_at = le->n_hist;
    char *scratch = NULL; /* the line being typed while browsing history */
    bool paste = false;
    le_status st = LE_ERROR;
    le->cursor_row = 0;
    refresh(le);
    for (;;) {
        int c = term_getc(le);
        if (c == -1 && le->len > 0)
            c = '\r';
        if (c == -1) {
            st = LE_EOF;
            break;
        }
        if (c < 0) {
            st = LE_ERROR;
            break;
        }
        key k = K_NONE;
        if (c == 27) {
            k = read_escape(le);
            if (k == K_PASTE_START) {
                paste = true;
                continue;
            }
            if (k == K_PASTE_END) {
                paste = false;
                refresh(le);
                continue;
            }
        }
        if (paste) { /* everything is text until the paste ends; no redraw */
            if (c == 27)
                continue;
            if (c == '\r' || c == '\n') {
                if (!buf_insert(le, "\n", 1))
                    break;
            } else if (!insert_char(le, c)) {
                break;
            }
            continue;
        }
        bool ok = true;
        switch (c) {
        case '\r':
        case '\n':
            if (le->len > 0 && le->buf[le->len - 1] == '\\') { /* continue on a new line */
                le->buf[le->len - 1] = '\n';
                le->pos = le->len;
                break;
            }
            le->pos = le->len;
            refresh(le);
            write_all(le->out, "\r\n", 2);
            st = take_line(le, line);
            goto done;
        case 3: /* Ctrl-C */
            le->pos = le->len;
            refresh(le);
            write_all(le->out, "^C\r\n", 4);
            st = LE_INTERRUPT;
            goto done;
        case 4: /* Ctrl-D: end of input on an empty line, else delete */
            if (le->len == 0) {
                write_all(le->out, "\r\n", 2);
                st = LE_EOF;
                goto done;
            }
            k = K_DELETE;
            break;
        case 1: k = K_HOME; break;
        case 5: k = K_END; break;
        case 2: k = K_LEFT; break;
        case 6: k = K_RIGHT; break;
        case 16: k = K_UP; break;
        case 14: k = K_DOWN; break;
        case 23: k = K_KILL_WORD; break;
        case 127:
        case 8: /* backspace */
            if (le->pos > 0)
                buf_delete(le, prev_char(le, le->pos), le->pos);
            break;
        case 11: /* Ctrl-K */
            buf_delete(le, le->pos, le->len);
            break;
        case 21: /* Ctrl-U */
            buf_delete(le, 0, le->pos);
            break;
        case 12: /* Ctrl-L */
            write_all(le->out, "\x1b[H\x1b[2J", 7);
            le->cursor_row = 0;
            break;
        case 27:
            break;
        default:
            if (c == '\t' || c >= 0x20)
                ok = insert_char(le, c);
        }
        if (!ok)
            break;
        switch (k) {
        case K_LEFT: le->pos = prev_char(le, le->pos); break;
        case K_RIGHT: le->pos = next_char(le, le->pos); break;
        case K_WORD_LEFT: le->pos = word_left(le, le->pos); break;
        case K_WORD_RIGHT: le->pos = word_right(le, le->pos); break;
        case K_HOME: le->pos = 0; break;
        case K_END: le->pos = le->len; break;
        case K_DELETE:
            if (le->pos < le->len)
                buf_delete(le, le->pos, next_char(le, le->pos));
            break;
        case K_KILL_WORD: buf_delete(le, word_left(le, le->pos), le->pos); break;
        case K_UP:
        case K_DOWN: {
            int to = hist_at + (k == K_UP ? -1 : 1);
            if (to < 0 || to > le->n_hist)
                break;
            if (hist_at == le->n_hist) {
                free(scratch);
                scratch = strdup(le->buf ? le->buf : "");
            }
            hist_at = to;
            ok = buf_set(le, hist_at == le->n_hist ? (scratch ? scratch : "") : le->hist[hist_at]);
            break;
        }
        default: break;
        }
        if (!ok)
            break;
        refresh(le);
    }
done:
    free(scratch);
    return st;
}

le_status le_read(line_editor *le, const char *prompt, const char *cont_prompt, char **line)
{
    *line = NULL;
    le->len = le->pos = 0;
    if (le->buf)
        le->buf[0] = 0;
    le->prompt = prompt ? prompt : "";
    le->cont = cont_prompt ? cont_prompt : "";
    if (!le->term)
        return plain_read(le, line);
    if (!raw_on(le))
        return plain_read(le, line);
    le_status st = term_read(le, line);
    raw_off(le);
    return st;
}
