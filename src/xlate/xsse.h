/* xsse.h - incremental stream translator, Anthropic Messages events <->
 * OpenAI Chat Completions chunks (issue 14).
 *
 * Fed the upstream's events one at a time (xsse_event) or its bytes in any
 * chunking (xsse_feed, which runs them through an sse.c parser), it appends
 * the client's events to a caller-owned struct buf at once: nothing is held
 * back waiting for later events except the closing message_delta of an
 * OpenAI -> Anthropic stream, which needs the usage chunk that comes last.
 * Tool-call argument fragments pass through as they come, never
 * accumulated, so memory is bounded (the parser's SSE_MAX_EVENT plus a few
 * fixed fields) for any stream length.
 *
 *   Anthropic upstream -> OpenAI client:  message_start -> the role chunk;
 *   text/thinking/input_json deltas -> delta.content / reasoning_content /
 *   tool_calls[i].function.arguments; message_delta -> the finish chunk;
 *   message_stop -> the usage chunk (when the client asked for it) and
 *   [DONE]; error -> data: {"error": ...}.
 *   OpenAI upstream -> Anthropic client: the first chunk -> message_start;
 *   deltas -> content_block_start/delta/stop per block (thinking, text,
 *   one tool_use block per call); [DONE] -> message_delta (stop_reason and
 *   the usage chunk's counts) and message_stop.
 *
 * No I/O and no clock; the struct owns only its parser's buffers. The
 * meter keeps reading the upstream's bytes (relay.c's own parser), never
 * the output of this translator. */
#ifndef RELAY_XSSE_H
#define RELAY_XSSE_H

#include <stddef.h>
#include "buf.h"
#include "err.h"
#include "fmt.h"
#include "sse.h"
#include "xlate.h"

/* OpenAI tool-call indexes tracked in one stream (more are dropped). */
#define XSSE_MAX_TOOLS 128

struct xsse {
	enum fmt_kind upstream;     /* format of the events fed in */
	struct xlate_opts o;
	int include_usage;          /* OpenAI client asked for the usage chunk */
	char id[128];
	char model[128];
	int started;                /* the first client event went out */
	int finished;               /* the closing events went out */
	int errored;                /* an error event went out */
	const char *stop;           /* stop/finish reason to send (static) */
	long long in, out, cc, cr;  /* usage seen, Anthropic terms */
	/* OpenAI -> Anthropic: the open content block */
	int block;                  /* its index, -1 when none is open */
	int kind;                   /* XK_* of the open block */
	int nblocks;                /* blocks started so far */
	int tool_block[XSSE_MAX_TOOLS]; /* OpenAI tool index -> block, -1 */
	unsigned tool_id[XSSE_MAX_TOOLS]; /* hash of that call's id: a new
					     id at a used index (some
					     upstreams send every call as
					     index 0) starts a new block */
	/* Anthropic -> OpenAI: the tool call of the open tool_use block */
	long long cur_block;        /* Anthropic index of the open block */
	int cur_tool;               /* its OpenAI tool index, -1 if none */
	int ntools;                 /* tool calls started so far */
	unsigned long dropped;      /* upstream events that could not be used
				       (not JSON, unknown, oversize) */
	/* xsse_feed's parser and the sink of the feed in progress */
	struct sse_parser p;
	struct buf *sink;
	enum relay_err err;
};

/* Prepares x for a stream from an `upstream`-format backend to a client of
 * the other format. info (may be NULL) is what xlate_request returned. */
void xsse_init(struct xsse *x, enum fmt_kind upstream,
	       const struct xlate_opts *o, const struct xlate_info *info);

/* Translates one complete upstream event: its name (event: field, may be
 * NULL or "") and data (len bytes, borrowed). Appends 0..n client events
 * to out. RE_ETOOBIG/RE_ENOMEM when out is full. */
enum relay_err xsse_event(struct xsse *x, const char *name, const char *data,
			  size_t len, struct buf *out);

/* Feeds n upstream bytes; every event they complete is translated into
 * out. */
enum relay_err xsse_feed(struct xsse *x, const char *data, size_t n,
			 struct buf *out);

/* The upstream's stream ended normally: appends what the client still
 * expects to close the stream (message_delta + message_stop, or the usage
 * chunk + [DONE]) unless it went out already. Not for a broken stream:
 * then the caller sends its own error event. */
enum relay_err xsse_end(struct xsse *x, struct buf *out);

/* Releases the parser's buffers. */
void xsse_free(struct xsse *x);

/* A whole answer already in the client's format (what xlate_response
 * made, borrowed) as that format's event stream, appended to out: for an
 * upstream that answered a stream request with one JSON body, so the
 * client still gets the stream it asked for. include_usage: an OpenAI
 * client's usage chunk. */
enum relay_err xsse_from_answer(enum fmt_kind client, struct json_object *ans,
				int include_usage, struct buf *out);

#endif
