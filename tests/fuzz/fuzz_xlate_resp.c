/* fuzz_xlate_resp.c - libFuzzer target for answer and error translation
 * (xlresp.c, xlate.c).
 *
 * The first input byte picks the upstream's format (bit 0) and an HTTP
 * status (the rest of it); the rest is the upstream's body. A successful
 * answer must translate to a JSON object or be refused as bad input, and
 * any body - JSON or not, UTF-8 or not - must give a valid JSON error
 * object in the client's format. A translated answer must also turn into
 * the client's event stream (xsse_from_answer). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xsse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_be_object(const struct buf *b)
{
	struct json_object *j = xlate_parse(b->data, b->len);

	if (!j || !json_object_is_type(j, json_type_object))
		abort();
	json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlate_opts o = { 1700000000, 0, 1 };
	struct xlate_info info;
	struct xlate_note n;
	struct buf out;
	enum fmt_kind up;
	enum relay_err rc;
	int status;
	char *c;

	if (size == 0)
		return 0;
	up = (data[0] & 1) ? FMT_ANTHROPIC : FMT_OPENAI;
	status = 400 + (data[0] >> 1);
	c = malloc(size - 1 ? size - 1 : 1);
	if (!c)
		abort();
	memcpy(c, data + 1, size - 1);
	memset(&n, 0, sizeof n);
	memset(&info, 0, sizeof info);
	memcpy(info.model, "m", 2);
	buf_init(&out, 1 << 24);
	rc = xlate_response_text(up, c, size - 1, &o, &info, &out, &n);
	if (rc != RE_OK && rc != RE_EINVAL)
		abort();
	if (rc == RE_OK) {
		struct json_object *j = xlate_parse(out.data, out.len);

		must_be_object(&out);
		/* the same answer as the client's event stream */
		buf_reset(&out);
		if (xsse_from_answer(up == FMT_OPENAI ? FMT_ANTHROPIC :
							FMT_OPENAI, j,
				     data[0] & 2, &out) != RE_OK)
			abort();
		json_object_put(j);
	}
	buf_reset(&out);
	rc = xlate_error_text(up == FMT_OPENAI ? FMT_ANTHROPIC : FMT_OPENAI,
			      status, c, size - 1, &out);
	if (rc != RE_OK)
		abort();
	must_be_object(&out);
	buf_free(&out);
	free(c);
	return 0;
}
