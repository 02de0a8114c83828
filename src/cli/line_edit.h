/* A small line editor for the chat REPL (no readline). On a terminal it puts
 * the terminal in raw mode while a line is read: left/right, home/end (Ctrl-A/E),
 * backspace/delete, Ctrl-U/K/W, word moves (Ctrl-left/right), up/down history,
 * Ctrl-L, bracketed paste (taken as one message, newlines kept) and a trailing
 * backslash to continue on the next line. Anywhere else (a pipe, a file) it reads
 * plain lines, with the same trailing-backslash continuation. */
#ifndef KESTREL_LINE_EDIT_H
#define KESTREL_LINE_EDIT_H

#include <signal.h>
#include <stdbool.h>

typedef enum {
    LE_LINE,      /* *line holds a message (malloc'd, no trailing newline) */
    LE_EOF,       /* end of input (Ctrl-D on an empty line) */
    LE_INTERRUPT, /* Ctrl-C: the line was discarded */
    LE_ERROR,     /* a read error or out of memory */
} le_status;

typedef struct line_editor line_editor;

/* in_fd/out_fd: usually 0 and 1. The editor is used when both are terminals
 * (unless force_plain). interrupted (may be NULL) is a flag a SIGINT handler
 * sets: a read interrupted by that signal returns LE_INTERRUPT in plain mode. */
line_editor *le_new(int in_fd, int out_fd, bool force_plain, volatile sig_atomic_t *interrupted);
/* Restores the terminal (if it was changed) and frees everything. */
void le_free(line_editor *le);
/* Whether lines are edited on a terminal (raw mode) rather than read plainly. */
bool le_is_terminal(const line_editor *le);

/* Reads one message. prompt is shown first (terminal mode only), cont_prompt
 * at the start of each continuation line. */
le_status le_read(line_editor *le, const char *prompt, const char *cont_prompt, char **line);

/* Adds a line to the history that up/down walk through (a repeat of the last
 * entry is not added again). */
void le_history_add(line_editor *le, const char *line);

#endif
