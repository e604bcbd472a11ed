/* cpw.h - console passwords through libcrypt's crypt_r (libxcrypt):
 * yescrypt ("$y$") for new hashes; any hash crypt_r knows (bcrypt "$2b$",
 * sha512crypt, ...) still verifies, so an operator may import them.
 *
 * Link with -lcrypt (only the binaries that use this module do). */
#ifndef RELAY_CPW_H
#define RELAY_CPW_H

#include <stddef.h>

/* Longest password accepted: libxcrypt's crypt_r refuses a phrase of
 * CRYPT_MAX_PASSPHRASE_SIZE (512) bytes or more (checked in cpw.c), and the
 * cap also keeps a hostile client from feeding megabytes to the KDF. */
#define CPW_MAX 511
#define CPW_MIN 8
#define CPW_HASH_MAX 256

/* Hashes pw with a fresh random salt into out (caller's, outlen >=
 * CPW_HASH_MAX). Returns 0, or -1 (out = "") on a bad length or failure. */
int cpw_hash(const char *pw, char *out, size_t outlen);

/* 1 if pw matches the stored crypt string hash, else 0. hash NULL (no
 * password set) still costs one yescrypt run against a fixed hash, so the
 * answer time does not tell whether a name exists. */
int cpw_verify(const char *pw, const char *hash);

#endif
