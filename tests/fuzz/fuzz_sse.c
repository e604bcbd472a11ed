/* fuzz_sse.c - libFuzzer target for the SSE parser (sse.c), differential.
 *
 * The first input byte picks a cut point, the rest is the stream. The stream
 * is fed three ways - whole, in two pieces at the cut, and one byte at a
 * time - and every observable result must be identical: the parser's
 * output may not depend on how the network chopped the stream. Each piece
 * is an exactly sized heap copy so ASan catches a read past a chunk.
 * usage_from_json is also run on the raw stream as a plain JSON text.
 * Because of the cut byte, every seed in corpus/sse/ starts with one extra
 * byte before its stream. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds n bytes of s through a fresh heap copy of exactly n bytes. */
static void feed_copy(struct sse_parser *p, const uint8_t *s, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, s, n);
	sse_feed(p, c, n);
	free(c);
}

/* Aborts with a message naming the field when two parsers disagree. */
static void check_same(const struct sse_parser *a, const struct sse_parser *b,
		       const char *how)
{
#define SAME(f)                                                            \
	do {                                                               \
		if (a->f != b->f) {                                        \
			fprintf(stderr, "fuzz_sse: %s differs (%s): %lld "  \
				"vs %lld\n", #f, how, (long long)a->f,      \
				(long long)b->f);                           \
			abort();                                           \
		}                                                          \
	} while (0)
	SAME(fed);
	SAME(event_end);
	SAME(events);
	SAME(oversize);
	SAME(done);
	SAME(error_event);
	SAME(usage.found);
	SAME(usage.input);
	SAME(usage.output);
	SAME(usage.cache_creation);
	SAME(usage.cache_read);
	SAME(usage.total);
#undef SAME
}

/* Invariants that hold for any single parser. */
static void check_sane(const struct sse_parser *p)
{
	if (p->event_end > p->fed || p->line.len > SSE_MAX_EVENT ||
	    p->data.len > SSE_MAX_EVENT || p->events > p->fed ||
	    usage_total(&p->usage) < 0 || memchr(p->event, '\0',
						sizeof p->event) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse_parser whole, split, bytes;
	const uint8_t *s;
	size_t n, cut, i;
	struct usage u;
	char *one;

	if (size == 0)
		return 0;
	s = data + 1;
	n = size - 1;
	/* scale the byte to the whole length so long inputs get cut
	 * anywhere, not just in their first 256 bytes */
	cut = (size_t)data[0] * n / 255;

	sse_init(&whole);
	feed_copy(&whole, s, n);
	check_sane(&whole);

	sse_init(&split);
	feed_copy(&split, s, cut);
	feed_copy(&split, s + cut, n - cut);
	check_sane(&split);
	check_same(&whole, &split, "two pieces");

	/* one reused 1-byte heap buffer: still catches a read past the
	 * byte, without a malloc per byte slowing the fuzzer down */
	one = malloc(1);
	if (!one)
		abort();
	sse_init(&bytes);
	for (i = 0; i < n; i++) {
		one[0] = (char)s[i];
		sse_feed(&bytes, one, 1);
	}
	free(one);
	check_sane(&bytes);
	check_same(&whole, &bytes, "one byte at a time");

	sse_free(&whole);
	sse_free(&split);
	sse_free(&bytes);

	{
		char *c = malloc(n ? n : 1);

		if (!c)
			abort();
		if (n)
			memcpy(c, s, n);
		memset(&u, 0, sizeof u);
		if (usage_from_json(c, n, &u) != u.found)
			abort();
		free(c);
	}
	return 0;
}
