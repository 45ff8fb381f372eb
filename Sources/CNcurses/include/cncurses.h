/*
 * cncurses.h — the ncursesw macros and globals Swift cannot import, as static inline
 * functions prefixed CNcurses_. Only the curses front (IPCScopeTUI) uses them.
 */
#ifndef CNCURSES_H
#define CNCURSES_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <ncursesw/curses.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <wchar.h>

/* Attribute bits of the model's cells (CellAttributes), mapped to curses A_* here. */
enum {
    CNCURSES_BOLD = 1,
    CNCURSES_REVERSE = 2,
    CNCURSES_UNDERLINE = 4,
    CNCURSES_DIM = 8,
};

/* Key codes returned by CNcurses_get_key besides characters (negative so they never clash). */
enum {
    CNCURSES_KEY_NONE = -1,
    CNCURSES_KEY_UP = -2,
    CNCURSES_KEY_DOWN = -3,
    CNCURSES_KEY_LEFT = -4,
    CNCURSES_KEY_RIGHT = -5,
    CNCURSES_KEY_PPAGE = -6,
    CNCURSES_KEY_NPAGE = -7,
    CNCURSES_KEY_HOME = -8,
    CNCURSES_KEY_END = -9,
    CNCURSES_KEY_BACKSPACE = -10,
    CNCURSES_KEY_DC = -11,
    CNCURSES_KEY_BTAB = -12,
    CNCURSES_KEY_RESIZE = -13,
    CNCURSES_KEY_ENTER = -14,
    CNCURSES_KEY_OTHER = -99,
};

/* setlocale(LC_ALL, "") then initscr; raw, noecho, keypad, no cursor. Returns 0 or -1. */
static inline int CNcurses_start(void) {
    setlocale(LC_ALL, "");
    if (initscr() == NULL) return -1;
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    return 0;
}

/* Colour pairs 1...6 for the model's roles (title, good, warning, bad, accent, muted) on the
 * terminal's default background. Returns whether colour is on. */
static inline bool CNcurses_start_colors(void) {
    if (!has_colors()) return false;
    if (start_color() != OK) return false;
    use_default_colors();
    init_pair(1, COLOR_CYAN, -1);
    init_pair(2, COLOR_GREEN, -1);
    init_pair(3, COLOR_YELLOW, -1);
    init_pair(4, COLOR_RED, -1);
    init_pair(5, COLOR_CYAN, -1);
    init_pair(6, COLOR_BLUE, -1);
    return true;
}

static inline void CNcurses_stop(void) { endwin(); }

static inline int CNcurses_lines(void) { return LINES; }
static inline int CNcurses_cols(void) { return COLS; }

/* Sets the key-read timeout in milliseconds (-1 blocks). */
static inline void CNcurses_timeout(int ms) { timeout(ms); }

/* Draws one cell: a wide character with the model's attribute bits and a colour pair. */
static inline void CNcurses_put(int y, int x, uint32_t ch, unsigned attrs, short pair) {
    attr_t a = A_NORMAL;
    if (attrs & CNCURSES_BOLD) a |= A_BOLD;
    if (attrs & CNCURSES_REVERSE) a |= A_REVERSE;
    if (attrs & CNCURSES_UNDERLINE) a |= A_UNDERLINE;
    if (attrs & CNCURSES_DIM) a |= A_DIM;
    wchar_t w[2] = {(wchar_t)ch, 0};
    cchar_t c;
    setcchar(&c, w, a, pair, NULL);
    mvadd_wch(y, x, &c);
}

/* Asks the terminal for its size (TIOCGWINSZ on stdout) and, when it differs from what
 * curses believes, resizes curses. Returns 1 when it did. Covers a SIGWINCH that went to
 * another thread of the process. */
static inline int CNcurses_check_resize(void) {
    struct winsize ws;
    if (ioctl(1, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return 0;
    if (ws.ws_row == LINES && ws.ws_col == COLS) return 0;
    resize_term(ws.ws_row, ws.ws_col);
    return 1;
}

static inline void CNcurses_refresh(void) { refresh(); }
static inline void CNcurses_clear(void) { clear(); }
static inline void CNcurses_clearok(void) { clearok(stdscr, TRUE); }

/* Reads one key, waiting at most the timeout. Returns a character (>= 0) or a
 * CNCURSES_KEY_* code. */
static inline int CNcurses_get_key(void) {
    wint_t ch = 0;
    int r = get_wch(&ch);
    if (r == ERR) return CNCURSES_KEY_NONE;
    if (r == KEY_CODE_YES) {
        switch (ch) {
        case KEY_UP: return CNCURSES_KEY_UP;
        case KEY_DOWN: return CNCURSES_KEY_DOWN;
        case KEY_LEFT: return CNCURSES_KEY_LEFT;
        case KEY_RIGHT: return CNCURSES_KEY_RIGHT;
        case KEY_PPAGE: return CNCURSES_KEY_PPAGE;
        case KEY_NPAGE: return CNCURSES_KEY_NPAGE;
        case KEY_HOME: return CNCURSES_KEY_HOME;
        case KEY_END: return CNCURSES_KEY_END;
        case KEY_BACKSPACE: return CNCURSES_KEY_BACKSPACE;
        case KEY_DC: return CNCURSES_KEY_DC;
        case KEY_BTAB: return CNCURSES_KEY_BTAB;
        case KEY_RESIZE: return CNCURSES_KEY_RESIZE;
        case KEY_ENTER: return CNCURSES_KEY_ENTER;
        default: return CNCURSES_KEY_OTHER;
        }
    }
    return (int)ch;
}

#endif
