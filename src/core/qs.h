/* qs.h - query string lookup without allocation. */
#ifndef RELAY_QS_H
#define RELAY_QS_H

#include <stddef.h>

/* Finds the first `key` in the query string `qs` (may be NULL), decodes its
 * value (%XX and '+') into out (size outlen, NUL-terminated).
 * Returns the decoded length, -1 if absent, -2 if it does not fit or has a
 * bad %-escape or a NUL byte. */
int qs_get(const char *qs, const char *key, char *out, size_t outlen);

#endif
