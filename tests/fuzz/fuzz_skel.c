/* fuzz_skel.c - libFuzzer target for skel_name.
 *
 * Input layout: byte 0 = output size (mod 64), then the name. The name is
 * copied into an exactly-sized NUL-terminated heap block so ASan sees any
 * read past the terminator. Checks what skel.h promises: a skeleton is
 * NUL-terminated within the buffer, valid input's skeleton is a fixed
 * point of skel_name (the mapping is idempotent). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "skel.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[64], again[64], *in;
	size_t outlen;

	if (size < 1)
		return 0;
	outlen = data[0] % 64;
	in = malloc(size);
	if (!in)
		abort();
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	if (skel_name(in, out, outlen) == 0) {
		CHECK(memchr(out, '\0', outlen) != NULL);
		CHECK(skel_name(out, again, sizeof(again)) == 0);
		CHECK(strcmp(out, again) == 0);
	}
	free(in);
	return 0;
}
