/* fuzz_xlate_rs.c - libFuzzer target for the Responses API <-> Chat
 * Completions translators (xlrs.c, xrsse.c), issue 26.
 *
 * The first input byte picks what the rest is: 0 a Responses request
 * (bit 2: reasoning_effort), 1 a Chat answer, 2 a Chat event stream fed in
 * pieces of (byte >> 2) + 1 bytes. Whatever the bytes, nothing may crash
 * or leak; a translated request or answer is a JSON object, a refusal has
 * a reason, and a translated answer replays as a stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "xlrs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_be_object(const struct buf *b)
{
	struct json_object *j = xlate_parse(b->data, b->len);

	if (!j || !json_object_is_type(j, json_type_object))
		abort();
	json_object_put(j);
}

static void one_request(const char *c, size_t n, int effort)
{
	struct xlate_opts o = { 1700000000, 0, effort };
	struct xlate_info info;
	struct xlate_note note;
	struct buf out;
	char why[200];
	enum relay_err rc;

	memset(&note, 0, sizeof note);
	buf_init(&out, 1 << 24);
	rc = xlrs_request_text(c, n, &o, &out, &info, &note, why, sizeof why);
	if (rc != RE_OK && rc != RE_EINVAL)
		abort();
	if (rc == RE_EINVAL && (!memchr(why, '\0', sizeof why) || !why[0]))
		abort();
	if (rc == RE_OK)
		must_be_object(&out);
	buf_free(&out);
}

static void one_answer(const char *c, size_t n)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct buf out, ev;
	struct json_object *j;

	buf_init(&out, 1 << 24);
	buf_init(&ev, 1 << 26);
	if (xlrs_response_text(c, n, &o, NULL, &out, NULL) == RE_OK) {
		must_be_object(&out);
		j = xlate_parse(out.data, out.len);
		if (xrsse_from_answer(j, &ev) != RE_OK)
			abort();
		json_object_put(j);
	}
	buf_free(&out);
	buf_free(&ev);
}

static void one_stream(const char *c, size_t n, size_t step)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct xrsse x;
	struct buf out;
	size_t i, k;

	buf_init(&out, 1 << 26);
	xrsse_init(&x, &o, NULL);
	for (i = 0; i < n; i += k) {
		k = n - i > step ? step : n - i;
		if (xrsse_feed(&x, c + i, k, &out) != RE_OK)
			abort();
	}
	if (xrsse_end(&x, &out) != RE_OK)
		abort();
	xrsse_free(&x);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *c;

	if (size == 0)
		return 0;
	c = malloc(size - 1 ? size - 1 : 1);
	if (!c)
		abort();
	memcpy(c, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		one_request(c, size - 1, (data[0] >> 2) & 1);
		break;
	case 1:
		one_answer(c, size - 1);
		break;
	default:
		one_stream(c, size - 1, (size_t)(data[0] >> 2) + 1);
		break;
	}
	free(c);
	return 0;
}
