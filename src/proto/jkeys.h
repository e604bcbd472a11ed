/* jkeys.h - the member names of a JSON object as json-c reads them.
 *
 * json-c decodes escapes in keys ("mod\u0065l" is "model") and keeps a key
 * only up to its first NUL ("model\u0000x" is "model" too), then keeps the
 * last of duplicate keys. An upstream may read the same bytes differently
 * (the first duplicate, the whole key), so a body whose keys the relay
 * decides on are duplicated is refused by the doors, and the byte scanners
 * (sopt.c) compare keys the way json-c does. Nothing here allocates; every
 * read stays inside [s, s + len). */
#ifndef RELAY_JKEYS_H
#define RELAY_JKEYS_H

#include <stddef.h>

/* Longest key compared; a longer decoded key never equals a name. */
#define JKEYS_NAME_MAX 64

/* s[i] is '"': decodes the string into out (cap bytes, NUL-terminated,
 * cut at the first decoded NUL as json-c does with keys); *n is the
 * decoded length, or cap when it did not fit. Returns the index just past
 * the closing quote, or 0 when the string is malformed or unterminated. */
size_t jkeys_string(const char *s, size_t len, size_t i, char *out, size_t cap,
		    size_t *n);

/* Skips one JSON value starting at s[i]; the index just past it, or 0. */
size_t jkeys_value(const char *s, size_t len, size_t i);

/* 1 when the key string whose quote is at s[i] is `name` once decoded. */
int jkeys_key_is(const char *s, size_t len, size_t i, const char *name);

/* The first of the relay's deciding keys that occurs more than once in
 * the top-level object of body: "model", "stream", "stream_options",
 * "previous_response_id", "background", or "stream_options.include_usage"
 * (inside an object stream_options). NULL when none is duplicated or the
 * body is not an object the scanner can follow (json-c decides those). */
const char *jkeys_dup(const char *body, size_t len);

#endif
