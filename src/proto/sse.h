/* Layer proto (src/proto/): wire formats parsed and written without I/O
 * (SSE, the stream_options splice, token estimates, header pass-list,
 * cookies). */
/* sse.h - incremental Server-Sent Events parser that extracts token usage.
 *
 * Fed the upstream's bytes in chunks of any size (an event may be split
 * anywhere, even one byte at a time); handles \n, \r\n and \r line ends,
 * comment lines (":..."), multi-line "data:" fields, and "event:" names.
 * Memory is bounded: a line or an event's data longer than SSE_MAX_EVENT is
 * skipped (and counted in `oversize`), never buffered whole.
 *
 * Usage is taken from any event whose data is JSON carrying a "usage" object
 * at the top level, under "message" (Anthropic message_start) or under
 * "response" (OpenAI Responses API response.completed). Each field
 * keeps the maximum seen, because some upstreams repeat cumulative usage in
 * every chunk: never the sum. */
#ifndef RELAY_SSE_H
#define RELAY_SSE_H

#include <stddef.h>
#include "buf.h"

/* Overridable at build time so tests and fuzzers can reach the oversize
 * paths with small inputs (e.g. -DSSE_MAX_EVENT=64). */
#ifndef SSE_MAX_EVENT
#define SSE_MAX_EVENT (1024 * 1024)
#endif

/* Token counts of one exchange; -1 style unknowns are not used: `found`
 * says whether any usage was seen at all. */
struct usage {
	long long input;          /* prompt_tokens / input_tokens */
	long long output;         /* completion_tokens / output_tokens */
	long long cache_creation; /* cache_creation_input_tokens */
	long long cache_read;     /* cache_read_input_tokens */
	long long total;          /* total_tokens when reported */
	int found;                /* 1 once any usage field was seen; 2 when
				     the counts are the relay's estimate
				     (usage_known = 2: the answer was cut
				     or too large before its usage) */
};

/* a + b as token counts: a negative one counts as 0, the sum saturates
 * at LLONG_MAX (an upstream may send any number). */
long long usage_add(long long a, long long b);

/* prompt = input + cache_creation + cache_read */
long long usage_prompt(const struct usage *u);
/* completion = output */
long long usage_completion(const struct usage *u);
/* max(total reported, prompt + completion) */
long long usage_total(const struct usage *u);

/* Merges the usage found in one JSON text (a whole non-stream response body
 * or one SSE data payload) into *u, field by field taking the maximum.
 * Returns 1 if usage was found, 0 if not (including invalid JSON). */
int usage_from_json(const char *json, size_t len, struct usage *u);

/* Merges every whole "usage":{...} object found in the len bytes at s
 * (borrowed: the tail of an oversize event or of a body too large to
 * hold, whose start is cut). One inside a JSON string has its quote
 * escaped (\"usage\") and is skipped. 1 if any usage was found. */
int usage_from_tail(const char *s, size_t len, struct usage *u);

struct sse_parser {
	struct buf line;                /* partial line carried between chunks */
	struct buf data;                /* data of the event being built */
	char event[64];                 /* event name of the event being built */
	int has_data;                   /* a data: field was seen for this event */
	int skip_line;                  /* rest of the current line is oversize */
	int skip_event;                 /* current event lost a line or its data
					   overflowed: drop it at its blank line */
	int last_cr;                    /* previous chunk ended with '\r' */
	unsigned long long fed;         /* total bytes fed */
	unsigned long long event_end;   /* stream offset just past the last
					   complete event (its blank line) */
	unsigned long events;           /* complete events dispatched */
	unsigned long oversize;         /* lines/events skipped as too large */
	int done;                       /* saw "data: [DONE]" or message_stop */
	int error_event;                /* saw an "error" event or a data
					   payload with a top-level "error" */
	struct usage usage;
	/* Estimated tokens of the generated text seen so far (tokest.h):
	 * what a stream cut before its usage is metered with. */
	long long text_est;
	/* The first "response"."id" seen (Responses API events), "" if none
	 * or longer than fits. */
	char resp_id[192];
	/* The last SSE_TAIL bytes of an oversize event: its usage is read
	 * from there (a Responses API response.completed carries the whole
	 * answer and can pass 1 MiB; its usage comes at the end). */
	struct buf tail;
	/* Optional: called for every dispatched event with its stream span
	 * [start, end) (start = the previous event's end, so comments and
	 * blank lines before it are inside) and its data (borrowed). */
	void (*on_event)(void *ctx, unsigned long long start,
			 unsigned long long end, const char *data, size_t len);
	void *on_event_ctx;
};

/* Bytes of an oversize event kept for its usage (overridable like
 * SSE_MAX_EVENT, so the fuzzer reaches the ring's edges). */
#ifndef SSE_TAIL
#define SSE_TAIL 65536
#endif

/* Prepares an empty parser. */
void sse_init(struct sse_parser *p);
/* Feeds n bytes. Updates fed/event_end/events/usage/done/error_event. */
void sse_feed(struct sse_parser *p, const char *data, size_t n);
/* Releases the parser's buffers (the parser can be sse_init'ed again). */
void sse_free(struct sse_parser *p);

#endif
