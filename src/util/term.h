/* SPDX-License-Identifier: MIT */
/*
 * The host terminal while a guest owns it: raw mode (keys go to the guest,
 * Ctrl-C included), restored on every way out, fatal signals included.
 */
#ifndef KILN_UTIL_TERM_H
#define KILN_UTIL_TERM_H

#include <stdbool.h>

/* Put fd into raw mode if it is a terminal. Returns true when it did. */
bool term_enter_raw(int fd);
/* Restore the saved mode; safe to call twice and from a signal handler. */
void term_restore(void);

/* The quit sequence on the console: Ctrl-A then x. */
#define TERM_ESCAPE_KEY 0x01

#endif
