/* fuzz_bmatch.c - libFuzzer target for the pool's string work (bmatch.c).
 *
 * Input: "pattern-list \n model \n body". Contracts: the glob and list
 * matchers never read past their input; a successful model splice yields
 * JSON that json-c reads as an object whose "model" is the target, and the
 * bytes before and after the replaced value are the input's. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "bmatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *nl1, *nl2, *model, *body, target[256];
	struct json_object *o, *m;
	struct buf out;
	size_t blen;

	if (!in)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	nl1 = memchr(in, '\n', size);
	nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - in)) : NULL;
	if (!nl2 || memchr(in, '\0', size)) {
		free(in);
		return 0;
	}
	*nl1 = *nl2 = '\0';
	model = nl1 + 1;
	body = nl2 + 1;
	blen = size - (size_t)(body - in);
	(void)bmatch_glob(in, strlen(in), model);
	(void)bmatch_list(in, 0, model, NULL, 0);
	if (bmatch_list(in, 1, model, target, sizeof(target))) {
		buf_init(&out, 4u << 20);
		if (bmatch_splice_model(body, blen, target, &out) == 0) {
			/* only when the input itself was an object json-c reads:
			 * its lenient parser turns some malformed bodies (e.g.
			 * a "//" comment eating the closing brace) into a bare
			 * number, before and after the splice alike */
			struct json_object *orig = json_tokener_parse(body);
			o = json_tokener_parse(buf_cstr(&out));
			if (json_object_is_type(orig, json_type_object) &&
			    (!json_object_is_type(o, json_type_object) ||
			     !json_object_object_get_ex(o, "model", &m) ||
			     strcmp(json_object_get_string(m), target) != 0))
				abort();
			json_object_put(orig);
			json_object_put(o);
		}
		buf_free(&out);
	}
	(void)bmatch_lock_backend("p", in);
	free(in);
	return 0;
}
