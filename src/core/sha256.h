/* sha256.h - SHA-256 (FIPS 180-4) and a constant-time compare.
 *
 * Self-contained, no allocation. Used to store API keys as hashes and to
 * compare secrets without leaking timing. */
#ifndef RELAY_SHA256_H
#define RELAY_SHA256_H

#include <stddef.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

/* Hashes len bytes at data (may be NULL when len is 0) into out. */
void sha256(const void *data, size_t len, unsigned char out[32]);

/* Same, written as 64 lower-case hex digits plus NUL into out. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* 1 if the n bytes at a and b are equal, else 0. Always reads all n bytes
 * (no early exit), so the time does not depend on where they differ. */
int ct_equal(const void *a, const void *b, size_t n);

#endif
