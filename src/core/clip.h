/* clip.h - cutting a string at a UTF-8 character boundary.
 *
 * MariaDB's strict mode refuses a VARCHAR value that ends in half a
 * character, so every text the relay stores in a bounded column (a model
 * name, an error) is cut here first. */
#ifndef RELAY_CLIP_H
#define RELAY_CLIP_H
#include <stddef.h>

/* The length of s cut to at most n bytes without splitting a character. */
size_t clip_utf8(const char *s, size_t n);
#endif
