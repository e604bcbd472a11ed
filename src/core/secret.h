/* secret.h - random API keys from the kernel's CSPRNG. */
#ifndef RELAY_SECRET_H
#define RELAY_SECRET_H

#include <stddef.h>

/* "sk-" + 43 base62 characters (about 256 bits), the form of a user key. */
#define SECRET_KEY_CHARS 43
#define SECRET_KEY_LEN (3 + SECRET_KEY_CHARS)   /* without the NUL */

/* Writes a new key "sk-" + 43 characters of [0-9A-Za-z] into out (caller's,
 * outlen >= SECRET_KEY_LEN + 1), NUL-terminated. Randomness comes from
 * getrandom(2); each character takes one byte, bytes >= 248 are thrown away
 * so every character is equally likely. Returns 0, or -1 (out = "" when
 * outlen > 0) if out is too small or getrandom fails. */
int secret_random_key(char *out, size_t outlen);

#endif
