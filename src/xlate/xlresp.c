/* xlresp.c - non-stream answer translation (xlate_response in xlate.h) and
 * the stop-reason tables shared with the stream translator (xsse.c).
 *
 * Usage is rewritten for the client, never invented: OpenAI's prompt_tokens
 * include the cached ones (prompt_tokens_details.cached_tokens), Anthropic's
 * input_tokens exclude them (cache_read_input_tokens and
 * cache_creation_input_tokens are apart). The meter reads the upstream's
 * own body, not this one. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xlpriv.h"
#include "sse.h"

const char *xl_stop_to_finish(const char *s)
{
	if (xl_streq(s, "max_tokens") ||
	    xl_streq(s, "model_context_window_exceeded"))
		return "length";
	if (xl_streq(s, "tool_use"))
		return "tool_calls";
	if (xl_streq(s, "refusal"))
		return "content_filter";
	/* end_turn, stop_sequence, pause_turn, unknown */
	return "stop";
}

const char *xl_finish_to_stop(const char *f)
{
	if (xl_streq(f, "length"))
		return "max_tokens";
	if (xl_streq(f, "tool_calls") || xl_streq(f, "function_call"))
		return "tool_use";
	if (xl_streq(f, "content_filter"))
		return "refusal";
	return "end_turn";
}

/* OpenAI usage -> Anthropic usage (new object). */
static struct json_object *usage_o2a(struct json_object *u)
{
	struct json_object *a = json_object_new_object();
	long long p = xl_count(u, "prompt_tokens");
	long long cached = xl_count(xl_get(u, "prompt_tokens_details"),
				    "cached_tokens");

	if (!a)
		return NULL;
	if (cached > p)
		cached = p;
	xl_add(a, "input_tokens", json_object_new_int64(p - cached));
	xl_add(a, "output_tokens",
	       json_object_new_int64(xl_count(u, "completion_tokens")));
	xl_add(a, "cache_creation_input_tokens", json_object_new_int64(0));
	xl_add(a, "cache_read_input_tokens", json_object_new_int64(cached));
	return a;
}

/* Anthropic usage -> OpenAI usage (new object). */
struct json_object *xl_usage_a2o(long long in, long long out, long long cc,
				 long long cr)
{
	struct json_object *o = json_object_new_object();
	struct json_object *d = json_object_new_object();

	if (!o || !d) {
		json_object_put(o);
		json_object_put(d);
		return NULL;
	}
	/* the upstream's numbers, whatever they are: no overflow (fuzzed) */
	in = usage_add(usage_add(in, cc), cr);
	xl_add(o, "prompt_tokens", json_object_new_int64(in));
	xl_add(o, "completion_tokens", json_object_new_int64(usage_add(out, 0)));
	xl_add(o, "total_tokens", json_object_new_int64(usage_add(in, out)));
	xl_add(d, "cached_tokens", json_object_new_int64(usage_add(cr, 0)));
	xl_add(o, "prompt_tokens_details", d);
	return o;
}

/* An OpenAI tool call -> tool_use block. Arguments that are not a JSON
 * object (a model's broken output) are kept as {"_raw": text} rather than
 * dropped, so the client sees what came. */
static struct json_object *o2a_tool_use(struct json_object *tc,
					struct xlate_note *n)
{
	struct json_object *f = xl_get(tc, "function"), *b, *in;
	const char *args = xl_str(f, "arguments");

	if (!(b = json_object_new_object()))
		return NULL;
	in = args && *args ? xlate_parse(args, strlen(args)) : NULL;
	if (!xl_is(in, json_type_object)) {
		json_object_put(in);
		in = json_object_new_object();
		if (args && *args) {
			xl_add(in, "_raw", json_object_new_string(args));
			xlate_note_add(n, "tool arguments were not JSON");
		}
	}
	xl_add(b, "type", json_object_new_string("tool_use"));
	xl_add_ref(b, "id", xl_get(tc, "id"));
	xl_add_ref(b, "name", xl_get(f, "name"));
	xl_add(b, "input", in);
	return b;
}

/* choices[0].message -> content blocks: thinking, text, tool_use. */
static enum relay_err o2a_content(struct json_object *msg,
				  struct json_object *content,
				  struct xlate_note *n)
{
	struct json_object *rc_ = xl_get(msg, "reasoning_content"), *b;
	struct json_object *text = xl_get(msg, "content");
	struct json_object *calls = xl_get(msg, "tool_calls");
	size_t i, k;

	if (!xl_is(rc_, json_type_string))
		rc_ = xl_get(msg, "reasoning"); /* some providers' name */
	if (xl_is(rc_, json_type_string) && json_object_get_string_len(rc_)) {
		if (!(b = json_object_new_object()) || xl_push(content, b))
			return RE_ENOMEM;
		xl_add(b, "type", json_object_new_string("thinking"));
		xl_add_ref(b, "thinking", rc_);
		xl_add(b, "signature", json_object_new_string(""));
	}
	if (xl_is(text, json_type_string) && json_object_get_string_len(text)) {
		if (!(b = json_object_new_object()) || xl_push(content, b))
			return RE_ENOMEM;
		xl_add(b, "type", json_object_new_string("text"));
		xl_add_ref(b, "text", text);
	}
	if (xl_str(msg, "refusal"))
		xlate_note_add(n, "refusal text dropped");
	k = xl_is(calls, json_type_array) ? json_object_array_length(calls) : 0;
	for (i = 0; i < k; i++)
		if (xl_push(content, o2a_tool_use(json_object_array_get_idx(
					      calls, i), n)))
			return RE_ENOMEM;
	return RE_OK;
}

static enum relay_err o2a_response(struct json_object *in,
				   const struct xlate_info *info,
				   struct json_object *out, struct xlate_note *n)
{
	struct json_object *ch = xl_get(in, "choices"), *c0, *content, *u;
	enum relay_err rc;

	c0 = xl_is(ch, json_type_array) && json_object_array_length(ch) ?
		     json_object_array_get_idx(ch, 0) : NULL;
	if (xl_is(ch, json_type_array) && json_object_array_length(ch) > 1)
		xlate_note_add(n, "dropped choices after the first");
	xl_add_ref(out, "id", xl_get(in, "id"));
	xl_add(out, "type", json_object_new_string("message"));
	xl_add(out, "role", json_object_new_string("assistant"));
	if (xl_get(in, "model"))
		xl_add_ref(out, "model", xl_get(in, "model"));
	else
		xl_add(out, "model", json_object_new_string(info ? info->model
								 : ""));
	if (!(content = json_object_new_array()))
		return RE_ENOMEM;
	xl_add(out, "content", content);
	if ((rc = o2a_content(xl_get(c0, "message"), content, n)) != RE_OK)
		return rc;
	xl_add(out, "stop_reason", json_object_new_string(xl_finish_to_stop(
					   xl_str(c0, "finish_reason"))));
	xl_add(out, "stop_sequence", NULL);
	u = usage_o2a(xl_get(in, "usage"));
	if (!u)
		return RE_ENOMEM;
	xl_add(out, "usage", u);
	return RE_OK;
}

/* One tool_use block -> OpenAI tool call. */
static struct json_object *a2o_tool_call(struct json_object *b)
{
	struct json_object *tc = json_object_new_object();
	struct json_object *f = json_object_new_object();
	struct json_object *in = xl_get(b, "input");
	const char *args = in ? json_object_to_json_string_ext(
					in, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE)
			      : "{}";

	if (!tc || !f) {
		json_object_put(tc);
		json_object_put(f);
		return NULL;
	}
	xl_add_ref(tc, "id", xl_get(b, "id"));
	xl_add(tc, "type", json_object_new_string("function"));
	xl_add_ref(f, "name", xl_get(b, "name"));
	xl_add(f, "arguments", json_object_new_string(args ? args : "{}"));
	xl_add(tc, "function", f);
	return tc;
}

/* Anthropic content blocks -> choices[0].message. */
static enum relay_err a2o_message(struct json_object *content,
				  struct json_object *msg, struct xlate_note *n)
{
	struct buf text, think;
	struct json_object *calls = json_object_new_array();
	size_t i, k;
	enum relay_err rc = RE_ENOMEM;

	buf_init(&text, XL_TEXT_MAX);
	buf_init(&think, XL_TEXT_MAX);
	if (!calls)
		goto out;
	k = xl_is(content, json_type_array) ? json_object_array_length(content)
					    : 0;
	for (i = 0; i < k; i++) {
		struct json_object *b = json_object_array_get_idx(content, i);
		const char *t = xl_str(b, "type");

		if (xl_streq(t, "text") && xl_str(b, "text")) {
			if (buf_puts(&text, xl_str(b, "text")))
				goto out;
		} else if (xl_streq(t, "thinking") && xl_str(b, "thinking")) {
			if (buf_puts(&think, xl_str(b, "thinking")))
				goto out;
		} else if (xl_streq(t, "tool_use")) {
			if (xl_push(calls, a2o_tool_call(b)))
				goto out;
		} else {
			xlate_note_add(n, "dropped %s block", t ? t : "?");
		}
	}
	xl_add(msg, "role", json_object_new_string("assistant"));
	xl_add(msg, "content", text.len ? xl_buf_string(&text) : NULL);
	if (think.len)
		xl_add(msg, "reasoning_content", xl_buf_string(&think));
	if (json_object_array_length(calls)) {
		xl_add(msg, "tool_calls", calls);
		calls = NULL;
	}
	rc = RE_OK;
out:
	json_object_put(calls);
	buf_free(&text);
	buf_free(&think);
	return rc;
}

static enum relay_err a2o_response(struct json_object *in,
				   const struct xlate_opts *o,
				   const struct xlate_info *info,
				   struct json_object *out, struct xlate_note *n)
{
	struct json_object *choices, *c0, *msg, *u = xl_get(in, "usage"), *ou;
	enum relay_err rc;

	xl_add_ref(out, "id", xl_get(in, "id"));
	xl_add(out, "object", json_object_new_string("chat.completion"));
	xl_add(out, "created", json_object_new_int64(o ? o->now : 0));
	if (xl_get(in, "model"))
		xl_add_ref(out, "model", xl_get(in, "model"));
	else
		xl_add(out, "model", json_object_new_string(info ? info->model
								 : ""));
	choices = json_object_new_array();
	c0 = json_object_new_object();
	msg = json_object_new_object();
	if (!choices || !c0 || !msg || xl_push(choices, c0)) {
		json_object_put(choices);
		json_object_put(msg);
		return RE_ENOMEM;
	}
	xl_add(out, "choices", choices);
	xl_add(c0, "index", json_object_new_int(0));
	xl_add(c0, "message", msg);
	if ((rc = a2o_message(xl_get(in, "content"), msg, n)) != RE_OK)
		return rc;
	xl_add(c0, "logprobs", NULL);
	xl_add(c0, "finish_reason", json_object_new_string(xl_stop_to_finish(
					    xl_str(in, "stop_reason"))));
	ou = xl_usage_a2o(xl_int(u, "input_tokens"), xl_int(u, "output_tokens"),
			  xl_int(u, "cache_creation_input_tokens"),
			  xl_int(u, "cache_read_input_tokens"));
	if (!ou)
		return RE_ENOMEM;
	xl_add(out, "usage", ou);
	return RE_OK;
}

enum relay_err xlate_response(enum fmt_kind from, struct json_object *in,
			      const struct xlate_opts *o,
			      const struct xlate_info *info,
			      struct json_object **out, struct xlate_note *n)
{
	struct json_object *res;
	enum relay_err rc;

	*out = NULL;
	if (!xl_is(in, json_type_object))
		return RE_EINVAL;
	if (!(res = json_object_new_object()))
		return RE_ENOMEM;
	if (from == FMT_OPENAI)
		rc = o2a_response(in, info, res, n);
	else
		rc = a2o_response(in, o, info, res, n);
	if (rc) {
		json_object_put(res);
		return rc;
	}
	*out = res;
	return RE_OK;
}
