/* apikey.h - creating API keys, shared by relayctl and the console so both
 * make and store keys the same way: secret_random_key(), SHA-256 hex in
 * api_keys.key_hash, the first 12 characters as key_prefix. */
#ifndef RELAY_APIKEY_H
#define RELAY_APIKEY_H

#include <stddef.h>
#include "err.h"

struct db;

#define APIKEY_PREFIX_LEN 12
#define APIKEY_NAME_MAX 64
#define APIKEY_MODELS_MAX 2000

/* A new key for user_id. name (<= 64 bytes), models (normalised allow-list,
 * see apikey_models_norm) and expires ("YYYY-MM-DD", see apikey_date_ok)
 * may be NULL. The key is written to key (caller's, >= 64 bytes; shown
 * once, never stored), its prefix to prefix (>= 13), its row id to *id.
 * Returns RE_OK, RE_EIO when no randomness is available, RE_EDB. */
enum relay_err apikey_create(struct db *db, long long user_id, const char *name,
			     const char *models, const char *expires,
			     char *key, size_t keylen, char prefix[13], long long *id);

/* 1 if s is a real calendar date YYYY-MM-DD (1970..9999). */
int apikey_date_ok(const char *s);

/* Normalises a model allow-list given as "a, b,c" into "a,b,c" in out
 * (outlen bytes): names of [A-Za-z0-9._:/@+-], 1..128 characters, empty
 * items dropped, duplicates kept out. Returns the number of models (0 =
 * empty list, out = ""), or -1 if a name is bad or the list does not fit. */
int apikey_models_norm(const char *in, char *out, size_t outlen);

/* How many models of a normalised key list (see apikey_models_norm) its
 * user's allow-list does not allow, named in bad (comma-separated, cut to
 * badlen): a key's list may only narrow its user's (issue 25). 0 when all
 * are allowed (or either list is empty = the user's in force), -1 when
 * the database failed. */
int apikey_models_beyond(struct db *db, long long user_id, const char *models,
			 char *bad, size_t badlen);

#endif
