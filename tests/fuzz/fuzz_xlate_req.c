/* fuzz_xlate_req.c - libFuzzer target for request translation (xlreq.c).
 *
 * The first input byte picks the client's format (bit 0) and the options
 * (bit 1: reasoning_effort); the rest is the client's body. Whatever the
 * body, the translator must not crash, leak or fail on anything but bad
 * input, and what it produces must be a JSON object that the other
 * direction accepts as well (so an output is never half-built). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct xlate_info info;
	struct xlate_note n;
	struct buf out, back;
	enum fmt_kind from;
	enum relay_err rc;
	char why[200];
	char *c;

	if (size == 0)
		return 0;
	from = (data[0] & 1) ? FMT_ANTHROPIC : FMT_OPENAI;
	o.reasoning_effort = (data[0] >> 1) & 1;
	c = malloc(size - 1 ? size - 1 : 1);
	if (!c)
		abort();
	memcpy(c, data + 1, size - 1);
	memset(&n, 0, sizeof n);
	buf_init(&out, 1 << 24);
	buf_init(&back, 1 << 24);
	rc = xlate_request_text(from, c, size - 1, &o, &out, &info, &n, why,
				sizeof why);
	if (rc != RE_OK && rc != RE_EINVAL)
		abort();
	if (memchr(n.text, '\0', sizeof n.text) == NULL ||
	    memchr(info.model, '\0', sizeof info.model) == NULL)
		abort();
	if (rc == RE_EINVAL && (memchr(why, '\0', sizeof why) == NULL ||
				!why[0]))
		abort();
	if (rc == RE_OK) {
		struct json_object *j = xlate_parse(out.data, out.len);

		if (!j)
			abort();
		json_object_put(j);
		/* the other way round must not crash either */
		rc = xlate_request_text(from == FMT_OPENAI ? FMT_ANTHROPIC :
							     FMT_OPENAI,
					out.data, out.len, &o, &back, NULL, &n,
					why, sizeof why);
		if (rc != RE_OK && rc != RE_EINVAL)
			abort();
	}
	buf_free(&out);
	buf_free(&back);
	free(c);
	return 0;
}
