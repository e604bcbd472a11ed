/* cookie.h - the Cookie request header, read without allocation, and the
 * Set-Cookie line of the console session.
 *
 * Pure string code (no database, no libfcgi), so it is unit-tested and
 * fuzzed on its own (tests/fuzz/fuzz_cookie.c). */
#ifndef RELAY_COOKIE_H
#define RELAY_COOKIE_H

#include <stddef.h>

/* Finds the first cookie called `name` in a Cookie header value (may be
 * NULL) of the form "a=1; b=2" and copies its value (surrounding double
 * quotes removed) into out (outlen bytes, NUL-terminated).
 * Returns the value's length, -1 if absent, -2 if it does not fit or holds
 * a byte outside the printable ASCII range (controls, space, ';', '"'
 * inside, ',' and '\\' are refused; RFC 6265 cookie-octet). On -2 out is
 * "" (when outlen > 0). Never reads past the header's NUL. */
int cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* Writes "Set-Cookie: NAME=VALUE; Path=/; HttpOnly; SameSite=Strict;
 * Max-Age=N[; Secure]\r\n" into out. max_age 0 deletes the cookie. name
 * and value must be cookie-safe (checked: [A-Za-z0-9_-] only).
 * Returns 0, or -1 if a check fails or the line does not fit. */
int cookie_set_line(char *out, size_t outlen, const char *name,
		    const char *value, long max_age, int secure);

#endif
