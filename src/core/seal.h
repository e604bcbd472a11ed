/* seal.h - upstream keys at rest: AES-256-GCM with the master key.
 *
 * The master key is 32 random bytes written as 64 hex characters in the
 * file named by master_key_file, readable by its owner only (the user the
 * relay runs as). A sealed key is nonce (12) | ciphertext | tag (16); the
 * database never sees a key in clear. */
#ifndef RELAY_SEAL_H
#define RELAY_SEAL_H

#include <stddef.h>

#define SEAL_KEY_LEN 32
#define SEAL_OVERHEAD (12 + 16)

/* Reads and checks the master key file into key. 0, or -1 with a one-line
 * reason in err (missing, unreadable, group/world-readable, not 64 hex). */
int seal_load_key(const char *path, unsigned char key[SEAL_KEY_LEN],
		  char *err, size_t errlen);

/* Seals n bytes of plain into out (room for n + SEAL_OVERHEAD); returns
 * the sealed length, or -1. */
long seal_close(const unsigned char key[SEAL_KEY_LEN], const char *plain, size_t n,
		unsigned char *out, size_t cap);

/* Opens a sealed blob into out (NUL-terminated, cap bytes); returns the
 * plain length, or -1 when it was not sealed with this key (or tampered
 * with, or does not fit). */
long seal_open(const unsigned char key[SEAL_KEY_LEN], const unsigned char *in,
	       size_t n, char *out, size_t cap);

/* Writes a fresh master key file (0600, never overwrites): 0 or -1. */
int seal_new_key_file(const char *path, char *err, size_t errlen);

#endif
