/* fuzz_imp.c - libFuzzer target for imp_parse (relayctl import's CSV and
 * JSON lines reader). The input is the file; checks what imp.h promises:
 * no problems means at least one row, every row named, every key valid and
 * hashed, no key twice. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "imp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	struct buf errs;
	struct imp im;
	int bad;

	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	buf_init(&errs, 1 << 20);
	bad = imp_parse(text, size, &im, &errs);
	CHECK(bad >= 0);
	CHECK(!bad || errs.len > 0);
	if (!bad) {
		CHECK(im.n > 0);
		for (size_t i = 0; i < im.n; i++) {
			const struct imp_row *r = &im.rows[i];

			CHECK(r->name[0] && strlen(r->name) <= 64);
			CHECK(!r->key || (imp_key_ok(r->key) && strlen(r->hex) == 64));
			for (size_t j = 0; j < i && r->key; j++)
				CHECK(!im.rows[j].key || strcmp(im.rows[j].hex, r->hex) != 0);
		}
	}
	imp_free(&im);
	buf_free(&errs);
	free(text);
	return 0;
}
