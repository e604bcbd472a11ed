/* fuzz_qs.c - libFuzzer target for qs_get.
 *
 * Input layout: byte 0 = key length k (mod 32), byte 1 = output size
 * (mod 80), then k bytes of key, then the query string. Key and query are
 * copied into exactly-sized NUL-terminated heap blocks so ASan sees any
 * read past the terminator. Checks what qs.h promises about the result. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "qs.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns a malloc'd NUL-terminated copy of n bytes (caller frees). */
static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Looks the key up and checks the answer's invariants. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t k, outlen;
	char *key, *qs, *out;
	int rc;

	if (size < 2)
		return 0;
	k = data[0] % 32;
	outlen = data[1] % 80;
	if (k > size - 2)
		k = size - 2;
	key = dup_n(data + 2, k);
	qs = dup_n(data + 2 + k, size - 2 - k);
	out = outlen ? malloc(outlen) : NULL;
	if (outlen && !out)
		abort();
	rc = qs_get(qs, key, out, outlen);
	CHECK(rc >= -2);
	if (rc >= 0) {
		CHECK((size_t)rc < outlen);
		CHECK(out[rc] == '\0' && strlen(out) == (size_t)rc);
		CHECK((size_t)rc <= strlen(qs));
	} else if (rc == -2 && outlen) {
		CHECK(out[0] == '\0');
	}
	free(out);
	free(qs);
	free(key);
	return 0;
}
