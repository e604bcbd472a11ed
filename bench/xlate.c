/* bench/xlate.c - what translation (issue 14) adds per stream event and per
 * request, next to its baseline: the relay's own SSE parse of the same
 * bytes, which every stream pays anyway.
 *
 *   build/bench/xlate [EVENTS]      (default 20000 per stream shape)
 *
 * Streams are fed one whole event per call, as relay.c hands events to its
 * destination; each call is timed alone (CLOCK_MONOTONIC), so the figures
 * are the added delay of one event: p50, p99, max in microseconds. Shapes:
 * text deltas and tool-argument fragments, each direction. Then whole
 * requests and answers: a Claude Code-sized request (24 tools, ~80 KB) and
 * its answer, translated N times. No thresholds: figures only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "buf.h"
#include "sse.h"
#include "xlate.h"
#include "xsse.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, size_t n)
{
	qsort(t, n, sizeof *t, cmp_d);
	printf("%-48s %8zu %9.2f %9.2f %9.2f\n", what, n, t[n / 2],
	       t[(size_t)((double)n * 0.99)], t[n - 1]);
}

/* One upstream event of a shape, i = its number. */
static void make_event(struct buf *b, enum fmt_kind up, int tool, size_t i)
{
	buf_reset(b);
	if (up == FMT_OPENAI && !tool)
		buf_printf(b, "data: {\"id\":\"chatcmpl-b\",\"object\":"
			   "\"chat.completion.chunk\",\"created\":1700000000,"
			   "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
			   "{\"content\":\"word %zu \"},\"logprobs\":null,"
			   "\"finish_reason\":null}],\"usage\":null}\n\n", i);
	else if (up == FMT_OPENAI)
		buf_printf(b, "data: {\"id\":\"chatcmpl-b\",\"object\":"
			   "\"chat.completion.chunk\",\"created\":1700000000,"
			   "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
			   "{\"tool_calls\":[{\"index\":0,\"function\":"
			   "{\"arguments\":\"\\\"k%zu\\\": 1, \"}}]},"
			   "\"finish_reason\":null}]}\n\n", i);
	else if (!tool)
		buf_printf(b, "event: content_block_delta\ndata: {\"type\":"
			   "\"content_block_delta\",\"index\":0,\"delta\":"
			   "{\"type\":\"text_delta\",\"text\":\"word %zu \"}}\n\n",
			   i);
	else
		buf_printf(b, "event: content_block_delta\ndata: {\"type\":"
			   "\"content_block_delta\",\"index\":1,\"delta\":"
			   "{\"type\":\"input_json_delta\",\"partial_json\":"
			   "\"\\\"k%zu\\\": 1, \"}}\n\n", i);
}

/* The events that open a stream of that shape. */
static const char *stream_head(enum fmt_kind up, int tool)
{
	if (up == FMT_OPENAI)
		return tool ? "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":"
			      "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\""
			      ":0,\"id\":\"call_1\",\"type\":\"function\","
			      "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}"
			      ",\"finish_reason\":null}]}\n\n" :
			      "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":"
			      "[{\"index\":0,\"delta\":{\"role\":\"assistant\"},"
			      "\"finish_reason\":null}]}\n\n";
	return tool ? "event: message_start\ndata: {\"type\":\"message_start\","
		      "\"message\":{\"id\":\"msg\",\"model\":\"m\",\"usage\":"
		      "{\"input_tokens\":5}}}\n\nevent: content_block_start\n"
		      "data: {\"type\":\"content_block_start\",\"index\":1,"
		      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\","
		      "\"name\":\"f\",\"input\":{}}}\n\n" :
		      "event: message_start\ndata: {\"type\":\"message_start\","
		      "\"message\":{\"id\":\"msg\",\"model\":\"m\",\"usage\":"
		      "{\"input_tokens\":5}}}\n\n";
}

static void bench_stream(enum fmt_kind up, int tool, size_t n, double *t,
			 double *base)
{
	struct xlate_info info = { 1, 1, "m" };
	struct xlate_opts o = { 1700000000, 0, 1 };
	struct xsse *x = malloc(sizeof *x);
	struct sse_parser p;
	struct buf ev, out;
	const char *h = stream_head(up, tool);
	char what[80];
	size_t i;
	double t0;

	if (!x)
		exit(1);
	buf_init(&ev, 4096);
	buf_init(&out, 1 << 20);
	xsse_init(x, up, &o, &info);
	sse_init(&p);
	xsse_feed(x, h, strlen(h), &out);
	sse_feed(&p, h, strlen(h));
	for (i = 0; i < n; i++) {
		make_event(&ev, up, tool, i);
		buf_reset(&out);
		t0 = now_us();
		xsse_feed(x, ev.data, ev.len, &out);
		t[i] = now_us() - t0;
		t0 = now_us();
		sse_feed(&p, ev.data, ev.len);
		base[i] = now_us() - t0;
	}
	snprintf(what, sizeof what, "stream %s -> %s, %s: translate",
		 up == FMT_OPENAI ? "openai" : "anthropic",
		 up == FMT_OPENAI ? "anthropic" : "openai",
		 tool ? "tool args" : "text");
	report(what, t, n);
	snprintf(what, sizeof what, "  baseline: relay's own SSE parse");
	report(what, base, n);
	xsse_free(x);
	sse_free(&p);
	buf_free(&ev);
	buf_free(&out);
	free(x);
}

/* A Claude Code-like request: system blocks, 24 tools, a few turns. */
static void make_request(struct buf *b)
{
	int i;

	buf_puts(b, "{\"model\":\"claude-opus-4-8\",\"max_tokens\":32000,"
		    "\"stream\":true,\"thinking\":{\"type\":\"adaptive\"},"
		    "\"system\":[{\"type\":\"text\",\"text\":\"");
	for (i = 0; i < 300; i++)
		buf_puts(b, "You are a careful coding assistant. ");
	buf_puts(b, "\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"tools\":[");
	for (i = 0; i < 24; i++)
		buf_printf(b, "%s{\"name\":\"Tool%d\",\"description\":\"%0*d\","
			   "\"input_schema\":{\"type\":\"object\",\"properties\":"
			   "{\"a\":{\"type\":\"string\",\"description\":\"x\"},"
			   "\"b\":{\"type\":\"number\"}},\"required\":[\"a\"]}}",
			   i ? "," : "", i, 1500, 0);
	buf_puts(b, "],\"messages\":[");
	for (i = 0; i < 10; i++)
		buf_printf(b, "%s{\"role\":\"user\",\"content\":[{\"type\":\"text\","
			   "\"text\":\"question %d\"}]},{\"role\":\"assistant\","
			   "\"content\":[{\"type\":\"text\",\"text\":\"answer\"},"
			   "{\"type\":\"tool_use\",\"id\":\"t%d\",\"name\":\"Tool1\","
			   "\"input\":{\"a\":\"b\"}}]},{\"role\":\"user\",\"content\":"
			   "[{\"type\":\"tool_result\",\"tool_use_id\":\"t%d\","
			   "\"content\":\"ok\"}]}", i ? "," : "", i, i, i);
	buf_puts(b, ",{\"role\":\"user\",\"content\":\"go on\"}]}");
}

static void bench_whole(size_t n, double *t)
{
	static const char answer[] =
		"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
		"\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
		"\"assistant\",\"content\":\"Here is the change.\",\"tool_calls\":"
		"[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
		"\"Tool1\",\"arguments\":\"{\\\"a\\\":\\\"b\\\"}\"}}]},"
		"\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":"
		"5000,\"completion_tokens\":40,\"total_tokens\":5040}}";
	struct xlate_opts o = { 1700000000, 0, 1 };
	struct buf req, out;
	struct xlate_info info;
	char what[80];
	size_t i;
	double t0;

	buf_init(&req, 1 << 22);
	buf_init(&out, 1 << 22);
	make_request(&req);
	for (i = 0; i < n; i++) {
		buf_reset(&out);
		t0 = now_us();
		if (xlate_request_text(FMT_ANTHROPIC, req.data, req.len, &o, &out,
				       &info, NULL, NULL, 0))
			exit(1);
		t[i] = now_us() - t0;
	}
	snprintf(what, sizeof what, "request anthropic -> openai (%zu KB)",
		 req.len / 1024);
	report(what, t, n);
	for (i = 0; i < n; i++) {
		buf_reset(&out);
		t0 = now_us();
		if (xlate_response_text(FMT_OPENAI, answer, sizeof answer - 1, &o,
					&info, &out, NULL))
			exit(1);
		t[i] = now_us() - t0;
	}
	report("answer openai -> anthropic", t, n);
	buf_free(&req);
	buf_free(&out);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	double *t, *base;
	int up, tool;

	if (n < 10)
		n = 10;
	t = malloc(n * sizeof *t);
	base = malloc(n * sizeof *base);
	if (!t || !base)
		return 1;
	printf("%-48s %8s %9s %9s %9s\n", "per call (microseconds)", "calls",
	       "p50", "p99", "max");
	for (up = 0; up < 2; up++)
		for (tool = 0; tool < 2; tool++)
			bench_stream(up ? FMT_ANTHROPIC : FMT_OPENAI, tool, n, t,
				     base);
	bench_whole(n / 100 < 20 ? 20 : n / 100, t);
	free(t);
	free(base);
	return 0;
}
