/* xlrs.h - OpenAI Responses API <-> Chat Completions translation (issue
 * 26): a /v1/responses client served by a chat-only backend (MiniMax,
 * Kimi, Zhipu and most OpenAI-compatible providers).
 *
 * Pure functions on json-c objects like xlate.h (same ownership rules: `in`
 * is borrowed, every `**out` is the caller's; notes name what was dropped).
 *
 *   request   Responses -> Chat: instructions -> a system message; input
 *             (string, or items: message with input_text / input_image /
 *             output_text parts, function_call, function_call_output;
 *             reasoning items dropped with a note); function tools;
 *             tool_choice, parallel_tool_calls, max_output_tokens ->
 *             max_tokens, temperature, top_p, reasoning.effort ->
 *             reasoning_effort, text.format -> response_format, user.
 *             Built-in tools (web_search, file_search, ...) and what needs
 *             stored state (previous_response_id, item_reference) are
 *             refused (RE_EINVAL, `why` names them): a chat backend cannot
 *             run them and dropping them would change the answer.
 *   answer    Chat -> Responses: output items (reasoning with its summary,
 *             message/output_text, function_call with call_id), status and
 *             incomplete_details from finish_reason, usage with cached and
 *             reasoning tokens.
 *   stream    Chat chunks -> Responses events (xrsse), one upstream chunk
 *             at a time, each client event sent at once with its
 *             sequence_number. The closing events carry the whole items
 *             (Codex builds its history from output_item.done), so text
 *             and arguments are kept up to XRSSE_HOLD_MAX bytes each.
 *
 * Errors keep OpenAI's shape (xlate_error with FMT_OPENAI): the Responses
 * API uses the same {"error":{message,type,param,code}} body. */
#ifndef RELAY_XLRS_H
#define RELAY_XLRS_H

#include <stddef.h>
#include "buf.h"
#include "err.h"
#include "sse.h"
#include "xlate.h"

struct json_object;

/* Responses request -> Chat Completions request. */
enum relay_err xlrs_request(struct json_object *in, const struct xlate_opts *o,
			    struct json_object **out, struct xlate_info *info,
			    struct xlate_note *n, char *why, size_t whylen);

/* Chat Completions answer -> Responses answer. info may be NULL. */
enum relay_err xlrs_response(struct json_object *in, const struct xlate_opts *o,
			     const struct xlate_info *info,
			     struct json_object **out, struct xlate_note *n);

/* Text wrappers (parse, translate, append plain JSON), as xlate.h's. */
enum relay_err xlrs_request_text(const char *body, size_t len,
				 const struct xlate_opts *o, struct buf *out,
				 struct xlate_info *info, struct xlate_note *n,
				 char *why, size_t whylen);
enum relay_err xlrs_response_text(const char *body, size_t len,
				  const struct xlate_opts *o,
				  const struct xlate_info *info,
				  struct buf *out, struct xlate_note *n);

/* ---- the stream ---- */

#define XRSSE_MAX_TOOLS 64
/* Largest text or arguments of one item kept for its closing events. */
#define XRSSE_HOLD_MAX (16u * 1024 * 1024)

struct xrsse_tool {
	int index;                  /* the Chat tool index, -1 = unused */
	unsigned id_hash;           /* of its call id (a new id at a used
				       index is a new call) */
	int out_index;              /* its output_index */
	char call_id[128];
	char name[128];
	struct buf args;
};

struct xrsse {
	struct xlate_opts o;
	char model[128];
	char id[160];               /* "resp_" + the upstream's id */
	long long seq;              /* next sequence_number */
	int started, finished, errored;
	int nout;                   /* output items started */
	int open;                   /* XR_* kind of the open text/reasoning
				       item (tools stay open to the end) */
	int open_index;             /* its output_index */
	struct buf text;            /* the open item's text */
	int ntools;
	struct xrsse_tool tools[XRSSE_MAX_TOOLS];
	struct json_object *items;  /* finished items, for the final event
				       (owned; indexed by output_index) */
	const char *finish;         /* the finish_reason seen (static) */
	long long in, out, cached, reasoning;
	unsigned long dropped;      /* chunks that could not be used */
	struct sse_parser p;
	struct buf *sink;
	enum relay_err err;
};

/* info (may be NULL) is what xlrs_request returned. */
void xrsse_init(struct xrsse *x, const struct xlate_opts *o,
		const struct xlate_info *info);

/* One upstream event (its data; name may be NULL). */
enum relay_err xrsse_event(struct xrsse *x, const char *name, const char *data,
			   size_t len, struct buf *out);

/* Upstream bytes in any chunking. */
enum relay_err xrsse_feed(struct xrsse *x, const char *data, size_t n,
			  struct buf *out);

/* The upstream's stream ended normally (with or without [DONE]): closes
 * the open items and sends response.completed / response.incomplete. */
enum relay_err xrsse_end(struct xrsse *x, struct buf *out);

void xrsse_free(struct xrsse *x);

/* A whole Responses answer (what xlrs_response made, borrowed) as the
 * Responses event stream, for an upstream that answered a stream request
 * with one JSON body. */
enum relay_err xrsse_from_answer(struct json_object *ans, struct buf *out);

#endif
