/* cpw.c - password hashing with crypt_r. See cpw.h. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpw.h"
#include "sha256.h"

_Static_assert(CPW_MAX < CRYPT_MAX_PASSPHRASE_SIZE, "crypt_r refuses longer passphrases");

/* A yescrypt hash of a random password nobody knows: verified against when
 * a user has no hash, to spend the same time as a real check. */
static const char cpw_dummy[] =
	"$y$j9T$THhNSb/yYFSZWAUs/iFwC1$SnFnhxxSPtf1gxZChaB14QHnL8l0Za4s7pJBAY5a6PD";

/* See cpw.h. struct crypt_data is ~32 KiB: heap, not stack. The caller
 * owns out; the crypt_data (which held the password) is wiped and freed. */
int cpw_hash(const char *pw, char *out, size_t outlen)
{
	struct crypt_data *cd = NULL;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	size_t n = pw ? strlen(pw) : 0;
	int rc = -1;

	if (outlen)
		out[0] = '\0';
	if (n < CPW_MIN || n > CPW_MAX || outlen < CPW_HASH_MAX)
		return -1;
	/* NULL random bytes: libxcrypt draws them from the OS itself. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return -1;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	h = crypt_r(pw, salt, cd);
	if (h && h[0] == '$' && strlen(h) < outlen) {
		snprintf(out, outlen, "%s", h);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

/* See cpw.h. crypt_r returns a string starting with '*' on failure, which
 * never equals a stored hash. */
int cpw_verify(const char *pw, const char *hash)
{
	struct crypt_data *cd;
	const char *use = hash && hash[0] == '$' ? hash : cpw_dummy;
	const char *h;
	size_t n = pw ? strlen(pw) : 0, hl = strlen(use);
	int ok = 0;

	if (n == 0 || n > CPW_MAX)
		return 0;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	h = crypt_r(pw, use, cd);
	if (h && strlen(h) == hl && ct_equal(h, use, hl) && use != cpw_dummy)
		ok = 1;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}
