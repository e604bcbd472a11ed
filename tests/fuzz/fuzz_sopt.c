/* fuzz_sopt.c - libFuzzer target for the include_usage splice (sopt.c).
 *
 * The input is a request body in an exactly sized heap copy (ASan sees any
 * read past it). Contract checked: SOPT_ADDED output is JSON that json-c
 * reads as an object whose stream_options.include_usage is true; every
 * other result leaves the output empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "sopt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1);
	struct json_object *o, *so, *iu;
	struct buf out;
	enum sopt_result r;

	if (!body)
		abort();
	if (size)
		memcpy(body, data, size);
	buf_init(&out, 4u << 20);
	r = sopt_splice(body, size, &out);
	if (r != SOPT_ADDED && out.len)
		abort();
	if (r == SOPT_ADDED) {
		o = json_tokener_parse(buf_cstr(&out));
		if (!json_object_object_get_ex(o, "stream_options", &so) ||
		    !json_object_object_get_ex(so, "include_usage", &iu) ||
		    !json_object_get_boolean(iu))
			abort();
		json_object_put(o);
	}
	(void)sopt_usage_only(body, size);
	buf_free(&out);
	free(body);
	return 0;
}
