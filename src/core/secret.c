/* secret.c - random API keys.
 *
 * Kept apart from sha256.c so the hash stays pure and portable while the
 * OS-specific randomness lives here. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include "secret.h"

static const char b62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Fills p with n random bytes from getrandom(2), retrying on EINTR and on
 * short reads. Returns 0 or -1. */
static int fill_random(unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* See secret.h. The random bytes are wiped before returning. */
int secret_random_key(char *out, size_t outlen)
{
	unsigned char rnd[64];
	size_t got = 0, i;
	int rc = -1;

	if (!out || outlen < SECRET_KEY_LEN + 1)
		goto out;
	memcpy(out, "sk-", 3);
	/* 62 * 4 = 248: a byte below 248 taken mod 62 is uniform. About 3% of
	 * bytes are rejected, so one 64-byte draw nearly always suffices. */
	while (got < SECRET_KEY_CHARS) {
		if (fill_random(rnd, sizeof(rnd)))
			goto out;
		for (i = 0; i < sizeof(rnd) && got < SECRET_KEY_CHARS; i++)
			if (rnd[i] < 248)
				out[3 + got++] = b62[rnd[i] % 62];
	}
	out[SECRET_KEY_LEN] = '\0';
	rc = 0;
out:
	explicit_bzero(rnd, sizeof(rnd));
	if (rc && out && outlen)
		out[0] = '\0';
	return rc;
}
