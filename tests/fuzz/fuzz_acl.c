/* fuzz_acl.c - libFuzzer target for acl_check / acl_match (metrics_allow).
 *
 * Input: the list, a NUL byte, then the address (no NUL: the address is
 * empty). Both are copied into exactly-sized heap blocks so ASan sees any
 * read past a terminator. Checks the results' ranges, and that a valid
 * single address (no separator, no prefix) matches itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "acl.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t ln = nul ? (size_t)(nul - data) : size;
	char *list = dup_n(data, ln);
	char *addr = dup_n(nul ? nul + 1 : data + size, nul ? size - ln - 1 : 0);
	int bad = -1, ok, hit;

	ok = acl_check(list, &bad);
	CHECK(ok == 0 || (ok == -1 && bad >= 1));
	hit = acl_match(list, addr);
	CHECK(hit == 0 || hit == 1);
	if (addr[0] && strcspn(addr, ", \t/%") == strlen(addr) && acl_check(addr, NULL) == 0)
		CHECK(acl_match(addr, addr) == 1);
	free(addr);
	free(list);
	return 0;
}
