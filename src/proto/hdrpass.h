/* hdrpass.h - which upstream response headers reach the client.
 *
 * Clients back off and correlate by a few headers (CLIENTS.md): retry-after
 * (and retry-after-ms), x-request-id / request-id, anthropic-ratelimit-*
 * and x-ratelimit-*. Everything else the upstream says stays here (cookies,
 * server names, its own content-length). A value with a control byte is
 * dropped, so nothing the upstream sends can split a header line. */
#ifndef RELAY_HDRPASS_H
#define RELAY_HDRPASS_H

#include <stddef.h>

/* Largest block of passed headers kept per answer. */
#define HDRPASS_MAX 2048

/* 1 when the header name (n bytes, any case) is on the allow-list. */
int hdrpass_allowed(const char *name, size_t n);

/* 1 for the names the relay sets itself for the caller's own allowance
 * (x-ratelimit-limit-requests, -remaining-requests, -remaining-tokens,
 * -reset-requests): the upstream's are dropped when the relay sends its own. */
int hdrpass_is_own(const char *name, size_t n);

/* Takes one raw header line of n bytes as received ("Name: value\r\n", no
 * NUL needed) and, when it is allowed and clean, appends "name: value\r\n"
 * (name lower-cased, value trimmed) to out, which holds *len bytes of cap
 * (always NUL-terminated). Returns 1 if appended, 0 if not (not allowed,
 * malformed, or no room: a header is never cut). out is the caller's. */
int hdrpass_add(char *out, size_t cap, size_t *len, const char *line, size_t n);

/* Copies the block `in` (lines as written by hdrpass_add) to out (cap bytes,
 * NUL-terminated), leaving out the hdrpass_is_own() names when drop_own.
 * Returns the length written. */
size_t hdrpass_copy(char *out, size_t cap, const char *in, int drop_own);

#endif
