/* buf.h - growable byte buffer with a hard maximum (after curl's dynbuf).
 *
 * Every size that comes from input is capped before allocating: a buf never
 * grows past `max` bytes of content. The data is always NUL-terminated so it
 * can be handed to string functions, but may contain NULs itself.
 * The buf owns `data`; buf_free() releases it. */
#ifndef RELAY_BUF_H
#define RELAY_BUF_H

#include <stddef.h>
#include "err.h"

struct buf {
	char *data;     /* owned; NULL until the first append */
	size_t len;     /* bytes of content */
	size_t cap;     /* bytes allocated */
	size_t max;     /* hard limit on len */
};

/* Initialises an empty buffer that may hold at most `max` bytes. */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes. RE_ETOOBIG (buffer unchanged) if len+n > max. */
enum relay_err buf_append(struct buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
enum relay_err buf_puts(struct buf *b, const char *s);
/* Appends printf-style formatted text (vsnprintf, truncation-checked). */
enum relay_err buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len), keeping the rest. */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Content as a C string ("" when empty); valid until the next append. */
const char *buf_cstr(const struct buf *b);

#endif
