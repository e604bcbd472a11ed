/* fuzz_xsse.c - libFuzzer target for the stream translator (xsse.c),
 * differential like fuzz_sse.c.
 *
 * The first input byte picks the upstream's format (bit 0), whether the
 * client asked for the usage chunk (bit 1) and a cut point (the rest); the
 * rest is the upstream's stream. It is translated three ways - whole, in
 * two pieces at the cut, one byte at a time - and the client's bytes must
 * be identical: the translation may not depend on how the network chopped
 * the stream. Every event produced must be whole, and its data JSON (or
 * [DONE]). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "xsse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed_copy(struct xsse *x, const uint8_t *s, size_t n,
		      struct buf *out)
{
	char *c = malloc(n ? n : 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, s, n);
	if (xsse_feed(x, c, n, out) != RE_OK)
		abort();
	free(c);
}

/* Each produced event parses back, with JSON data. */
static void on_out(void *ctx, unsigned long long s, unsigned long long e,
		   const char *d, size_t len)
{
	struct json_object *j;

	(void)ctx;
	(void)s;
	(void)e;
	if (len == 6 && memcmp(d, "[DONE]", 6) == 0)
		return;
	j = xlate_parse(d, len);
	if (!j)
		abort();
	json_object_put(j);
}

static void check_output(const struct buf *b)
{
	struct sse_parser p;

	sse_init(&p);
	p.on_event = on_out;
	sse_feed(&p, b->data ? b->data : "", b->len);
	/* nothing may be left unfinished */
	if (p.event_end != p.fed)
		abort();
	sse_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xlate_opts o = { 1700000000, 0, 1 };
	struct xlate_info info;
	struct xsse *x;
	struct buf whole, split, bytes;
	enum fmt_kind up;
	const uint8_t *s;
	size_t n, cut, i;
	char *one;

	if (size == 0)
		return 0;
	up = (data[0] & 1) ? FMT_ANTHROPIC : FMT_OPENAI;
	memset(&info, 0, sizeof info);
	info.stream = 1;
	info.include_usage = (data[0] >> 1) & 1;
	memcpy(info.model, "m", 2);
	s = data + 1;
	n = size - 1;
	cut = (size_t)(data[0] >> 2) * n / 63;
	x = malloc(sizeof *x);
	if (!x)
		abort();
	buf_init(&whole, 1 << 26);
	buf_init(&split, 1 << 26);
	buf_init(&bytes, 1 << 26);

	xsse_init(x, up, &o, &info);
	feed_copy(x, s, n, &whole);
	if (xsse_end(x, &whole) != RE_OK)
		abort();
	xsse_free(x);

	xsse_init(x, up, &o, &info);
	feed_copy(x, s, cut, &split);
	feed_copy(x, s + cut, n - cut, &split);
	if (xsse_end(x, &split) != RE_OK)
		abort();
	xsse_free(x);

	/* one reused 1-byte heap buffer (as fuzz_sse.c): still catches a
	 * read past the byte, without a malloc per byte */
	xsse_init(x, up, &o, &info);
	one = malloc(1);
	if (!one)
		abort();
	for (i = 0; i < n; i++) {
		one[0] = (char)s[i];
		if (xsse_feed(x, one, 1, &bytes) != RE_OK)
			abort();
	}
	free(one);
	if (xsse_end(x, &bytes) != RE_OK)
		abort();
	xsse_free(x);

	if (whole.len != split.len || whole.len != bytes.len ||
	    (whole.len && (memcmp(whole.data, split.data, whole.len) ||
			   memcmp(whole.data, bytes.data, whole.len)))) {
		fprintf(stderr, "fuzz_xsse: output depends on chunking\n");
		abort();
	}
	check_output(&whole);
	buf_free(&whole);
	buf_free(&split);
	buf_free(&bytes);
	free(x);
	return 0;
}
