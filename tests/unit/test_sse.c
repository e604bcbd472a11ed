/* test_sse.c - unit tests for the SSE parser and usage extraction (sse.c).
 *
 * Every feed goes through feed_copy(), which hands the parser an exactly
 * sized heap copy, so an over-read past a chunk is caught by ASan/valgrind
 * (the inputs are never NUL-terminated for the parser). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sse.h"

/* Feeds n bytes of s through a heap copy of exactly n bytes. */
static void feed_copy(struct sse_parser *p, const char *s, size_t n)
{
	char *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, s, n);
	sse_feed(p, c, n);
	free(c);
}

/* Feeds a NUL-terminated string (without its NUL). */
static void feed_str(struct sse_parser *p, const char *s)
{
	feed_copy(p, s, strlen(s));
}

/* usage_from_json on a string literal, without its NUL. */
#define UJ(lit, u) usage_from_json((lit), sizeof(lit) - 1, (u))

/* Asserts that two parsers reached the same observable results. */
static void assert_same(const struct sse_parser *a, const struct sse_parser *b)
{
	assert_int_equal(a->fed, b->fed);
	assert_int_equal(a->event_end, b->event_end);
	assert_int_equal(a->events, b->events);
	assert_int_equal(a->oversize, b->oversize);
	assert_int_equal(a->done, b->done);
	assert_int_equal(a->error_event, b->error_event);
	assert_int_equal(a->usage.found, b->usage.found);
	assert_int_equal(a->usage.input, b->usage.input);
	assert_int_equal(a->usage.output, b->usage.output);
	assert_int_equal(a->usage.cache_creation, b->usage.cache_creation);
	assert_int_equal(a->usage.cache_read, b->usage.cache_read);
	assert_int_equal(a->usage.total, b->usage.total);
}

/* A stream mixing everything: comments, all three line ends, a CRLF blank
 * line, multi-line data, no-space "data:", names, errors, [DONE], and an
 * unfinished event at the end. */
static const char mixed_head[] =
	": hello\r\n"
	"event: message_start\r\n"
	"data: {\"type\":\"message_start\",\"message\":{\"usage\":"
	"{\"input_tokens\":25,\"cache_creation_input_tokens\":7,"
	"\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\r\n"
	"\r\n"
	"event: ping\rdata:{\"type\":\"ping\"}\r\r"
	"data: {\"choices\":[],\n"
	": comment inside an event\n"
	"data: \"usage\":{\"prompt_tokens\":4}}\n"
	"\n"
	"\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}"
	"\r\n\r\n"
	"event: error\n"
	"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"
	"data: [DONE]\n\n";
static const char mixed_tail[] = "data: partial, never ended";

/* Returns the mixed stream in a static buffer and its length in *len. */
static const char *mixed_stream(size_t *len)
{
	static char s[sizeof mixed_head + sizeof mixed_tail];

	memcpy(s, mixed_head, sizeof mixed_head - 1);
	memcpy(s + sizeof mixed_head - 1, mixed_tail, sizeof mixed_tail);
	*len = sizeof mixed_head - 1 + sizeof mixed_tail - 1;
	return s;
}

static void test_mixed_whole(void **state)
{
	struct sse_parser p;
	size_t n;
	const char *s = mixed_stream(&n);

	(void)state;
	sse_init(&p);
	feed_copy(&p, s, n);
	assert_int_equal(p.fed, n);
	assert_int_equal(p.events, 6);
	assert_int_equal(p.event_end, sizeof mixed_head - 1);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.error_event, 1);
	assert_int_equal(p.oversize, 0);
	assert_int_equal(p.usage.found, 1);
	assert_int_equal(p.usage.input, 25);
	assert_int_equal(p.usage.cache_creation, 7);
	assert_int_equal(p.usage.cache_read, 3);
	assert_int_equal(p.usage.output, 15);
	assert_int_equal(usage_prompt(&p.usage), 35);
	assert_int_equal(usage_completion(&p.usage), 15);
	assert_int_equal(usage_total(&p.usage), 50);
	sse_free(&p);
}

/* One byte per feed must give exactly what one feed gives. */
static void test_mixed_one_byte(void **state)
{
	struct sse_parser whole, bytes;
	size_t n, i;
	const char *s = mixed_stream(&n);

	(void)state;
	sse_init(&whole);
	feed_copy(&whole, s, n);
	sse_init(&bytes);
	for (i = 0; i < n; i++)
		feed_copy(&bytes, s + i, 1);
	assert_same(&whole, &bytes);
	sse_free(&whole);
	sse_free(&bytes);
}

/* Every cut into two pieces (including empty ones) must give the same. */
static void test_mixed_all_splits(void **state)
{
	struct sse_parser whole, split;
	size_t n, k;
	const char *s = mixed_stream(&n);

	(void)state;
	sse_init(&whole);
	feed_copy(&whole, s, n);
	for (k = 0; k <= n; k++) {
		sse_init(&split);
		feed_copy(&split, s, k);
		feed_copy(&split, s + k, n - k);
		assert_same(&whole, &split);
		sse_free(&split);
	}
	sse_free(&whole);
}

/* Every cut into three pieces of the CRLF-heavy head: catches state that
 * is carried wrongly across more than one boundary. */
static void test_crlf_three_piece_splits(void **state)
{
	static const char s[] =
		"data: {\"usage\":{\"prompt_tokens\":9}}\r\n\r\n"
		"data: a\r\rdata: b\r\n\r\n";
	const size_t n = sizeof s - 1;
	struct sse_parser whole, split;
	size_t a, b;

	(void)state;
	sse_init(&whole);
	feed_copy(&whole, s, n);
	assert_int_equal(whole.events, 3);
	assert_int_equal(whole.event_end, n);
	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b++) {
			sse_init(&split);
			feed_copy(&split, s, a);
			feed_copy(&split, s + a, b - a);
			feed_copy(&split, s + b, n - b);
			assert_same(&whole, &split);
			sse_free(&split);
		}
	}
	sse_free(&whole);
}

static void test_crlf_line_ends(void **state)
{
	struct sse_parser p;
	static const char s[] =
		"data: {\"usage\":{\"prompt_tokens\":3,"
		"\"completion_tokens\":4}}\r\n\r\n";

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.event_end, sizeof s - 1);
	assert_int_equal(p.usage.input, 3);
	assert_int_equal(p.usage.output, 4);
	sse_free(&p);
}

static void test_lone_cr_line_ends(void **state)
{
	struct sse_parser p;
	static const char s[] =
		"event: a\rdata: 1\r\rdata: 2\r\r";

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	assert_int_equal(p.events, 2);
	assert_int_equal(p.event_end, sizeof s - 1);
	sse_free(&p);
}

/* A CRLF cut between its CR and LF: the CR already ends the blank line
 * (the event is dispatched at once, no waiting for the next chunk), and the
 * LF that follows is swallowed, moving event_end past it. */
static void test_crlf_split_across_feeds(void **state)
{
	struct sse_parser p;
	static const char a[] = "data: x\r\n\r";
	static const char b[] = "\ndata: y\r\n\r\n";

	(void)state;
	sse_init(&p);
	feed_str(&p, a);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.event_end, sizeof a - 1);
	assert_int_equal(p.last_cr, 1);
	feed_str(&p, "\n");
	assert_int_equal(p.events, 1);
	assert_int_equal(p.event_end, sizeof a);
	assert_int_equal(p.last_cr, 0);
	feed_str(&p, b + 1);
	assert_int_equal(p.events, 2);
	assert_int_equal(p.event_end, sizeof a - 1 + sizeof b - 1);
	/* the LF of a CRLF is not an empty line: "data: x\r" + "\n" + "\n"
	 * would be one blank line, not two */
	sse_free(&p);
	sse_init(&p);
	feed_str(&p, "data: x\r");
	feed_str(&p, "\n");
	assert_int_equal(p.events, 0);
	feed_str(&p, "\n");
	assert_int_equal(p.events, 1);
	assert_int_equal(p.event_end, 10);
	sse_free(&p);
}

static void test_comment_lines(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, ": keep-alive\n\n:\n\n");
	/* a comment-only block is not an event and does not move event_end */
	assert_int_equal(p.events, 0);
	assert_int_equal(p.event_end, 0);
	feed_str(&p, "data: a\n: not data\ndata: b\n");
	assert_int_equal(p.data.len, 3);
	assert_memory_equal(p.data.data, "a\nb", 3);
	feed_str(&p, "\n");
	assert_int_equal(p.events, 1);
	sse_free(&p);
}

/* Multi-line data is joined with '\n' (checked before dispatch, where the
 * joined text is still in p->data), and a JSON payload spread over lines
 * is read whole. */
static void test_multiline_data(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data: first\ndata\ndata: third\n");
	assert_int_equal(p.has_data, 1);
	assert_int_equal(p.data.len, 12);
	assert_memory_equal(p.data.data, "first\n\nthird", 12);
	feed_str(&p, "\n");
	assert_int_equal(p.events, 1);
	assert_int_equal(p.data.len, 0);
	feed_str(&p, "data: {\"usage\":\ndata:  {\"prompt_tokens\": 11,\n"
		     "data: \"completion_tokens\": 2}}\n\n");
	assert_int_equal(p.events, 2);
	assert_int_equal(p.usage.input, 11);
	assert_int_equal(p.usage.output, 2);
	/* lines split as "[DONE" + "]" are "[DONE\n]", not the marker */
	feed_str(&p, "data: [DONE\ndata: ]\n\n");
	assert_int_equal(p.done, 0);
	sse_free(&p);
}

static void test_data_space_after_colon(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data:x\n");
	assert_memory_equal(p.data.data, "x", 2);
	feed_str(&p, "\ndata: x\n");
	assert_memory_equal(p.data.data, "x", 2);
	/* only one space is removed */
	feed_str(&p, "\ndata:  x\n");
	assert_int_equal(p.data.len, 2);
	assert_memory_equal(p.data.data, " x", 3);
	feed_str(&p, "\ndata:{\"usage\":{\"output_tokens\":6}}\n\n");
	assert_int_equal(p.events, 4);
	assert_int_equal(p.usage.output, 6);
	/* an unknown field and a field without a colon are ignored */
	feed_str(&p, "id: 7\nretry: 100\nfoo\n\n");
	assert_int_equal(p.events, 4);
	sse_free(&p);
}

static void test_event_names(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "event: content_block_delta\n");
	assert_string_equal(p.event, "content_block_delta");
	feed_str(&p, "event:ping\n");
	assert_string_equal(p.event, "ping");
	/* a blank line without data dispatches nothing but clears the name */
	feed_str(&p, "\n");
	assert_string_equal(p.event, "");
	assert_int_equal(p.events, 0);
	/* message_stop by name ends the stream */
	feed_str(&p, "event: message_stop\ndata: {}\n\n");
	assert_int_equal(p.events, 1);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.error_event, 0);
	/* an over-long name is truncated, never overflows */
	feed_str(&p, "event: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	assert_int_equal(strlen(p.event), sizeof p.event - 1);
	sse_free(&p);
}

static void test_done_marker(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data: [DONE]\n");
	assert_int_equal(p.done, 0); /* not until the event is complete */
	feed_str(&p, "\n");
	assert_int_equal(p.done, 1);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.usage.found, 0);
	sse_free(&p);
	sse_init(&p);
	feed_str(&p, "data:[DONE]\r\n\r\n");
	assert_int_equal(p.done, 1);
	sse_free(&p);
}

/* A real Anthropic stream: prompt counts cache tokens; message_delta's
 * output_tokens replaces message_start's placeholder 1. */
static void test_anthropic_usage(void **state)
{
	static const char s[] =
		"event: message_start\n"
		"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
		"\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
		"\"model\":\"claude-sonnet-4\",\"stop_reason\":null,"
		"\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":100,"
		"\"cache_read_input_tokens\":50,\"output_tokens\":1}}}\n\n"
		"event: content_block_start\n"
		"data: {\"type\":\"content_block_start\",\"index\":0,"
		"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
		"event: ping\n"
		"data: {\"type\": \"ping\"}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
		"event: content_block_stop\n"
		"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		"event: message_delta\n"
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
		"\"end_turn\",\"stop_sequence\":null},\"usage\":"
		"{\"output_tokens\":15}}\n\n"
		"event: message_stop\n"
		"data: {\"type\":\"message_stop\"}\n\n";
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	assert_int_equal(p.events, 7);
	assert_int_equal(p.event_end, sizeof s - 1);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.error_event, 0);
	assert_int_equal(p.usage.found, 1);
	assert_int_equal(usage_prompt(&p.usage), 175);
	assert_int_equal(usage_completion(&p.usage), 15);
	assert_int_equal(usage_total(&p.usage), 190);
	sse_free(&p);
}

/* OpenAI with stream_options.include_usage: "usage": null in every chunk,
 * then one final chunk with empty choices and the usage. */
static void test_openai_final_usage(void **state)
{
	static const char s[] =
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		"\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
		"\"finish_reason\":null}],\"usage\":null}\n\n"
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
		"\"stop\"}],\"usage\":null}\n\n";
	static const char fin[] =
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
		"\"completion_tokens\":10,\"total_tokens\":29,"
		"\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n"
		"data: [DONE]\n\n";
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	assert_int_equal(p.events, 3);
	assert_int_equal(p.usage.found, 0); /* null usage is no usage */
	feed_str(&p, fin);
	assert_int_equal(p.events, 5);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.usage.found, 1);
	assert_int_equal(usage_prompt(&p.usage), 19);
	assert_int_equal(usage_completion(&p.usage), 10);
	assert_int_equal(usage_total(&p.usage), 29);
	assert_int_equal(p.event_end, sizeof s - 1 + sizeof fin - 1);
	sse_free(&p);
}

/* Upstreams that repeat cumulative usage in every chunk: max, never sum. */
static void test_cumulative_usage_is_max(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p,
		 "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,"
		 "\"total_tokens\":11}}\n\n"
		 "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,"
		 "\"total_tokens\":12}}\n\n"
		 "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
		 "\"total_tokens\":13}}\n\n"
		 /* a smaller late value never lowers a count */
		 "data: {\"usage\":{\"completion_tokens\":2}}\n\n");
	assert_int_equal(p.events, 4);
	assert_int_equal(p.usage.input, 10);
	assert_int_equal(p.usage.output, 3);
	assert_int_equal(p.usage.total, 13);
	assert_int_equal(usage_total(&p.usage), 13);
	sse_free(&p);
}

static void test_no_usage(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
		     "data: {\"usage\":null}\n\n"
		     "data: {\"usage\":{}}\n\n"
		     "data: {\"usage\":{\"prompt_tokens\":\"12\"}}\n\n"
		     "data: {\"usage\":{\"prompt_tokens\":-5}}\n\n"
		     "data: {\"usage\":[1,2]}\n\n"
		     "data: not json {\"usage\":{\"prompt_tokens\":1}}\n\n"
		     "data: {\"usage\":{\"prompt_tokens\":1}} trailing\n\n"
		     "data: [DONE]\n\n");
	assert_int_equal(p.events, 9);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.usage.found, 0);
	assert_int_equal(p.usage.input, 0);
	assert_int_equal(usage_total(&p.usage), 0);
	sse_free(&p);
}

/* A line over SSE_MAX_EVENT, fed in pieces, is skipped and counted once;
 * the buffers never hold more than the cap; the event it was in is
 * dropped, and the parser carries on with the next event. */
static void test_oversize_line(void **state)
{
	static const char head[] = "event: big\ndata: {\"usage\":{\"prompt_tokens\":999},\"pad\":\"";
	static const char next[] =
		"\"}\n\ndata: {\"usage\":{\"prompt_tokens\":5}}\n\n";
	struct sse_parser p;
	char piece[4096];
	size_t sent = 0;

	(void)state;
	memset(piece, 'x', sizeof piece);
	sse_init(&p);
	feed_str(&p, head);
	while (sent <= SSE_MAX_EVENT) {
		feed_copy(&p, piece, sizeof piece);
		sent += sizeof piece;
		assert_true(p.line.cap <= SSE_MAX_EVENT + 1);
		assert_true(p.data.cap <= SSE_MAX_EVENT + 1);
	}
	assert_int_equal(p.oversize, 1);
	assert_int_equal(p.skip_line, 1);
	feed_str(&p, next);
	assert_int_equal(p.fed, sizeof head - 1 + sent + sizeof next - 1);
	assert_int_equal(p.oversize, 1);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.usage.input, 5); /* never 999 */
	assert_int_equal(p.event_end, p.fed);
	sse_free(&p);

	/* the same line arriving in a single feed gives the same result */
	{
		size_t n = sizeof head - 1 + sent + sizeof next - 1;
		char *s = malloc(n);
		struct sse_parser q;

		assert_non_null(s);
		memcpy(s, head, sizeof head - 1);
		memset(s + sizeof head - 1, 'x', sent);
		memcpy(s + sizeof head - 1 + sent, next, sizeof next - 1);
		sse_init(&q);
		sse_feed(&q, s, n);
		assert_int_equal(q.oversize, 1);
		assert_int_equal(q.events, 1);
		assert_int_equal(q.usage.input, 5);
		assert_int_equal(q.event_end, n);
		sse_free(&q);
		free(s);
	}
}

/* Many data lines, each small, whose joined data exceeds the cap: the
 * event is dropped (counted once) but still ends at its blank line. */
static void test_oversize_event_data(void **state)
{
	struct sse_parser p;
	char *line;
	size_t ll = 60000, total = 0, i;
	unsigned long long end;

	(void)state;
	line = malloc(ll);
	assert_non_null(line);
	memcpy(line, "data: ", 6);
	memset(line + 6, 'y', ll - 7);
	line[ll - 1] = '\n';
	sse_init(&p);
	feed_str(&p, "data: {\"usage\":{\"prompt_tokens\":77}}\n");
	for (i = 0; total <= SSE_MAX_EVENT; i++) {
		feed_copy(&p, line, ll);
		total += ll - 6;
		assert_true(p.data.cap <= SSE_MAX_EVENT + 1);
	}
	assert_int_equal(p.oversize, 1);
	assert_int_equal(p.skip_event, 1);
	feed_str(&p, "\n");
	end = p.fed;
	assert_int_equal(p.events, 0);
	assert_int_equal(p.oversize, 1);
	assert_int_equal(p.event_end, end);
	assert_int_equal(p.usage.found, 0);
	feed_str(&p, "data: {\"usage\":{\"output_tokens\":8}}\n\n");
	assert_int_equal(p.events, 1);
	assert_int_equal(p.usage.output, 8);
	assert_int_equal(p.usage.input, 0);
	sse_free(&p);
	free(line);
}

/* event_end is the offset just after the blank line of the last complete
 * event, whatever partial data follows. */
static void test_event_end_offsets(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data: a\n");          /* 8 bytes, no event yet */
	assert_int_equal(p.event_end, 0);
	feed_str(&p, "\nda");               /* blank line at offset 8 */
	assert_int_equal(p.event_end, 9);
	assert_int_equal(p.fed, 11);
	feed_str(&p, "ta: b\r\n\r\n");      /* ends at 20 */
	assert_int_equal(p.event_end, 20);
	feed_str(&p, "\n\n: ping\n\n");     /* no event: unchanged */
	assert_int_equal(p.event_end, 20);
	feed_str(&p, "event: x\n\n");       /* no data: unchanged */
	assert_int_equal(p.event_end, 20);
	assert_int_equal(p.fed, 40);
	feed_str(&p, "data: c\r\r");        /* 40 + 9 */
	assert_int_equal(p.event_end, 49);
	feed_str(&p, "data: d\n");
	assert_int_equal(p.event_end, 49);
	assert_int_equal(p.events, 3);
	assert_int_equal(p.fed, 57);
	sse_free(&p);
}

static void test_error_events(void **state)
{
	struct sse_parser p;

	(void)state;
	/* Anthropic: "event: error" */
	sse_init(&p);
	feed_str(&p, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
		     "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
	assert_int_equal(p.error_event, 1);
	sse_free(&p);
	/* the event name alone is enough, whatever the data */
	sse_init(&p);
	feed_str(&p, "event: error\ndata: oops\n\n");
	assert_int_equal(p.error_event, 1);
	sse_free(&p);
	/* OpenAI: a data payload with a top-level "error" */
	sse_init(&p);
	feed_str(&p, "data: {\"error\":{\"message\":\"rate limited\","
		     "\"type\":\"rate_limit_error\"}}\n\n");
	assert_int_equal(p.error_event, 1);
	assert_int_equal(p.done, 0);
	sse_free(&p);
	/* neither "error": null nor "error" deeper down is one */
	sse_init(&p);
	feed_str(&p, "data: {\"error\":null,\"choices\":[]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"error\":1}}]}\n\n"
		     "event: errors\ndata: {}\n\n");
	assert_int_equal(p.events, 3);
	assert_int_equal(p.error_event, 0);
	sse_free(&p);
}

/* usage_from_json on whole (non-stream) response bodies. */
static void test_usage_from_json(void **state)
{
	static const char openai[] =
		"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
		"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		"\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,"
		"\"total_tokens\":17}}\n";
	static const char anthropic[] =
		"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
		"\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
		"\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,"
		"\"cache_read_input_tokens\":4,\"output_tokens\":6}}";
	struct usage u;
	char *c;

	(void)state;
	memset(&u, 0, sizeof u);
	/* exact-size copy: no NUL after the text */
	c = malloc(sizeof openai - 1);
	assert_non_null(c);
	memcpy(c, openai, sizeof openai - 1);
	assert_int_equal(usage_from_json(c, sizeof openai - 1, &u), 1);
	free(c);
	assert_int_equal(u.found, 1);
	assert_int_equal(usage_prompt(&u), 12);
	assert_int_equal(usage_completion(&u), 5);
	assert_int_equal(usage_total(&u), 17);

	memset(&u, 0, sizeof u);
	assert_int_equal(usage_from_json(anthropic, sizeof anthropic - 1, &u), 1);
	assert_int_equal(usage_prompt(&u), 14);
	assert_int_equal(usage_completion(&u), 6);
	assert_int_equal(usage_total(&u), 20);

	memset(&u, 0, sizeof u);
	assert_int_equal(usage_from_json("", 0, &u), 0);
	assert_int_equal(UJ("{\"usage\":", &u), 0);
	assert_int_equal(UJ("[{\"usage\":{\"input_tokens\":1}}]", &u), 0);
	/* length is honoured: the usage after byte 2 is not seen */
	assert_int_equal(usage_from_json("{}{\"usage\":{\"input_tokens\":1}}", 2,
					 &u), 0);
	assert_int_equal(u.found, 0);

	/* a reported total larger than the sum wins */
	memset(&u, 0, sizeof u);
	assert_int_equal(UJ("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
			    "\"total_tokens\":50}}", &u), 1);
	assert_int_equal(usage_total(&u), 50);

	/* doubles count; absurd values saturate instead of overflowing */
	memset(&u, 0, sizeof u);
	assert_int_equal(UJ("{\"usage\":{\"input_tokens\":3.0,"
			    "\"cache_read_input_tokens\":99999999999999999999999,"
			    "\"cache_creation_input_tokens\":9223372036854775807,"
			    "\"output_tokens\":1e300}}", &u), 1);
	assert_int_equal(u.input, 3);
	assert_int_equal(u.output, 0);
	assert_true(usage_prompt(&u) > 0);
	assert_true(usage_total(&u) >= usage_prompt(&u));
}

static void test_reinit_after_free(void **state)
{
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, "data: {\"usage\":{\"input_tokens\":1}}\n\ndata: part");
	sse_free(&p);
	sse_free(&p); /* harmless twice */
	sse_init(&p);
	assert_int_equal(p.usage.found, 0);
	assert_int_equal(p.fed, 0);
	feed_copy(&p, "", 0);
	assert_int_equal(p.fed, 0);
	feed_str(&p, "data: 1\n\n");
	assert_int_equal(p.events, 1);
	sse_free(&p);
}

/* OpenAI Responses API stream: usage only in response.completed, under
 * "response"; the earlier events carry none. */
static void test_responses_usage(void **state)
{
	static const char s[] =
		"event: response.created\n"
		"data: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\","
		"\"usage\":null}}\n\n"
		"event: response.output_text.delta\n"
		"data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
		"event: response.completed\n"
		"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\","
		"\"usage\":{\"input_tokens\":12,\"input_tokens_details\":"
		"{\"cached_tokens\":2},\"output_tokens\":7,\"total_tokens\":19}}}\n\n";
	struct sse_parser p;

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	assert_int_equal(p.events, 3);
	assert_int_equal(p.usage.found, 1);
	assert_int_equal(usage_prompt(&p.usage), 12);
	assert_int_equal(usage_completion(&p.usage), 7);
	assert_int_equal(usage_total(&p.usage), 19);
	/* issue 25: the id the relay binds to its member, the text estimate */
	assert_string_equal(p.resp_id, "r1");
	assert_int_equal(p.text_est, 1);
	sse_free(&p);
}

/* issue 25 point 8: the text a cut stream is metered with, and the usage
 * read from the tail of a body too large to hold. */
static void test_text_estimate_and_tail(void **state)
{
	static const char s[] =
		"data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n"
		"data: {\"choices\":[{\"text\":\"\u4f60\u597d\"}]}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
		"\"text\":\"abcd\"}}\n\n";
	static const char tail[] =
		"xyz\"}}],\"usage\": {\"prompt_tokens\":5,\"completion_tokens\":4000000,"
		"\"total_tokens\":4000005}}";
	struct sse_parser p;
	struct usage u;

	(void)state;
	sse_init(&p);
	feed_str(&p, s);
	/* 8 ASCII = 2, two CJK = 2, 4 ASCII = 1 */
	assert_int_equal(p.text_est, 5);
	assert_int_equal(p.usage.found, 0);
	assert_string_equal(p.resp_id, "");
	sse_free(&p);
	memset(&u, 0, sizeof(u));
	assert_int_equal(usage_from_tail(tail, strlen(tail), &u), 1);
	assert_int_equal(usage_total(&u), 4000005);
	memset(&u, 0, sizeof(u));
	assert_int_equal(usage_from_tail(tail, strlen(tail) - 2, &u), 0);
	assert_int_equal(usage_from_tail("\\\"usage\":{\"total_tokens\":1}", 26, &u), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_estimate_and_tail),
		cmocka_unit_test(test_mixed_whole),
		cmocka_unit_test(test_mixed_one_byte),
		cmocka_unit_test(test_mixed_all_splits),
		cmocka_unit_test(test_crlf_three_piece_splits),
		cmocka_unit_test(test_crlf_line_ends),
		cmocka_unit_test(test_lone_cr_line_ends),
		cmocka_unit_test(test_crlf_split_across_feeds),
		cmocka_unit_test(test_comment_lines),
		cmocka_unit_test(test_multiline_data),
		cmocka_unit_test(test_data_space_after_colon),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_done_marker),
		cmocka_unit_test(test_anthropic_usage),
		cmocka_unit_test(test_responses_usage),
		cmocka_unit_test(test_openai_final_usage),
		cmocka_unit_test(test_cumulative_usage_is_max),
		cmocka_unit_test(test_no_usage),
		cmocka_unit_test(test_oversize_line),
		cmocka_unit_test(test_oversize_event_data),
		cmocka_unit_test(test_event_end_offsets),
		cmocka_unit_test(test_error_events),
		cmocka_unit_test(test_usage_from_json),
		cmocka_unit_test(test_reinit_after_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
