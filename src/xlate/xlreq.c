/* xlreq.c - request translation, Anthropic Messages <-> OpenAI Chat
 * Completions (xlate_request in xlate.h).
 *
 * Each direction walks the client's top-level members once: the ones with
 * an equivalent are rewritten, the rest are named in the note and dropped.
 * Message lists are rebuilt, since the two formats cut a conversation
 * differently: Anthropic puts tool results inside user messages and the
 * system prompt at the top; OpenAI has `role: tool` messages and system
 * messages in the list. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xlpriv.h"

/* One request's translation context. */
struct rq {
	const struct xlate_opts *o;
	struct xlate_note *n;
	char *why;
	size_t whylen;
};

/* Sets the client-facing reason and returns RE_EINVAL. */
static enum relay_err bad(struct rq *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static enum relay_err bad(struct rq *r, const char *fmt, ...)
{
	va_list ap;

	if (r->why && r->whylen) {
		va_start(ap, fmt);
		vsnprintf(r->why, r->whylen, fmt, ap);
		va_end(ap);
	}
	return RE_EINVAL;
}

static struct json_object *new_str(const char *s)
{
	return json_object_new_string(s);
}

/* {role, content} with content taken over. */
static struct json_object *new_msg(const char *role, struct json_object *c)
{
	struct json_object *m = json_object_new_object();

	if (!m) {
		json_object_put(c);
		return NULL;
	}
	xl_add(m, "role", new_str(role));
	xl_add(m, "content", c);
	return m;
}

/* ======================= Anthropic -> OpenAI ======================= */

/* A block's text joined into a new string object, or NULL on memory. */
static struct json_object *joined(struct json_object *c, const char *sep,
				  int *skipped)
{
	struct buf b;
	struct json_object *s = NULL;

	buf_init(&b, XL_TEXT_MAX);
	if (xl_join_text(c, sep, &b, skipped) == RE_OK)
		s = xl_buf_string(&b);
	buf_free(&b);
	return s;
}

/* Anthropic image block -> OpenAI image_url part (new object). */
static enum relay_err a2o_image(struct rq *r, struct json_object *blk,
				struct json_object **part)
{
	struct json_object *src = xl_get(blk, "source"), *iu, *p;
	const char *st = xl_str(src, "type");
	struct buf url;
	enum relay_err rc = RE_OK;

	*part = NULL;
	buf_init(&url, XL_TEXT_MAX);
	if (xl_streq(st, "base64") && xl_str(src, "data")) {
		const char *mt = xl_str(src, "media_type");

		rc = buf_printf(&url, "data:%s;base64,", mt ? mt : "image/png");
		if (rc == RE_OK)
			rc = buf_puts(&url, xl_str(src, "data"));
	} else if (xl_streq(st, "url") && xl_str(src, "url")) {
		rc = buf_puts(&url, xl_str(src, "url"));
	} else {
		rc = bad(r, "image source type \"%s\" cannot be translated to "
			 "the OpenAI format", st ? st : "?");
	}
	if (rc)
		goto out;
	rc = RE_ENOMEM;
	p = json_object_new_object();
	iu = json_object_new_object();
	if (!p || !iu) {
		json_object_put(p);
		json_object_put(iu);
		goto out;
	}
	xl_add(iu, "url", xl_buf_string(&url));
	xl_add(p, "type", new_str("image_url"));
	xl_add(p, "image_url", iu);
	*part = p;
	rc = RE_OK;
out:
	buf_free(&url);
	return rc;
}

/* A tool_result block -> {role:"tool", tool_call_id, content} pushed on
 * msgs. Its text blocks are joined; images cannot go into an OpenAI tool
 * message and are noted. */
static enum relay_err a2o_tool_result(struct rq *r, struct json_object *blk,
				      struct json_object *msgs)
{
	struct json_object *m, *c;
	const char *id = xl_str(blk, "tool_use_id");
	int skipped = 0;

	if (!id)
		return bad(r, "tool_result block without tool_use_id");
	c = joined(xl_get(blk, "content"), "\n", &skipped);
	if (!c)
		return RE_ENOMEM;
	if (skipped)
		xlate_note_add(r->n, "dropped non-text tool_result content");
	if (json_object_get_boolean(xl_get(blk, "is_error")))
		xlate_note_add(r->n, "tool_result is_error sent as plain text");
	m = new_msg("tool", c);
	if (!m)
		return RE_ENOMEM;
	xl_add(m, "tool_call_id", new_str(id));
	return xl_push(msgs, m) ? RE_ENOMEM : RE_OK;
}

/* Anthropic user message -> OpenAI tool messages (first: they must follow
 * the assistant's tool_calls) then one user message with the rest. Text
 * only -> a string; with images -> an array of parts. */
static enum relay_err a2o_user(struct rq *r, struct json_object *content,
			       struct json_object *msgs)
{
	struct json_object *parts = NULL, *blk, *p;
	size_t i, n;
	int images = 0;
	enum relay_err rc = RE_ENOMEM;

	if (xl_is(content, json_type_string)) {
		p = new_msg("user", json_object_get(content));
		return p && !xl_push(msgs, p) ? RE_OK : RE_ENOMEM;
	}
	if (!xl_is(content, json_type_array))
		return bad(r, "message content must be a string or an array");
	if (!(parts = json_object_new_array()))
		return RE_ENOMEM;
	n = json_object_array_length(content);
	for (i = 0; i < n; i++) {
		const char *t;

		blk = json_object_array_get_idx(content, i);
		t = xl_str(blk, "type");
		if (xl_get(blk, "cache_control"))
			xlate_note_add(r->n, "dropped cache_control");
		if (xl_streq(t, "tool_result")) {
			if ((rc = a2o_tool_result(r, blk, msgs)) != RE_OK)
				goto out;
			continue;
		}
		if (xl_streq(t, "text") && xl_str(blk, "text")) {
			p = json_object_new_object();
			if (!p)
				goto out;
			xl_add(p, "type", new_str("text"));
			xl_add_ref(p, "text", xl_get(blk, "text"));
		} else if (xl_streq(t, "image")) {
			if ((rc = a2o_image(r, blk, &p)) != RE_OK)
				goto out;
			images++;
		} else {
			rc = bad(r, "content block type \"%s\" cannot be "
				 "translated to the OpenAI format",
				 t ? t : "?");
			goto out;
		}
		if (xl_push(parts, p))
			goto out;
	}
	rc = RE_OK;
	if (json_object_array_length(parts) == 0)
		goto out;
	if (images) {
		p = new_msg("user", parts);
		parts = NULL;
	} else {
		p = new_msg("user", joined(parts, "\n", NULL));
	}
	if (!p || xl_push(msgs, p))
		rc = RE_ENOMEM;
out:
	json_object_put(parts);
	return rc;
}

/* tool_use block -> {id, type:"function", function:{name, arguments}}. */
static struct json_object *a2o_tool_call(struct json_object *blk)
{
	struct json_object *tc = json_object_new_object();
	struct json_object *f = json_object_new_object();
	struct json_object *in = xl_get(blk, "input");
	const char *args = "{}";

	if (!tc || !f) {
		json_object_put(tc);
		json_object_put(f);
		return NULL;
	}
	if (in)
		args = json_object_to_json_string_ext(
			in, JSON_C_TO_STRING_PLAIN |
				    JSON_C_TO_STRING_NOSLASHESCAPE);
	xl_add_ref(tc, "id", xl_get(blk, "id"));
	xl_add(tc, "type", new_str("function"));
	xl_add_ref(f, "name", xl_get(blk, "name"));
	xl_add(f, "arguments", new_str(args ? args : "{}"));
	xl_add(tc, "function", f);
	return tc;
}

/* Anthropic assistant message -> one OpenAI assistant message: text
 * joined into content (null when there is none), tool_use blocks into
 * tool_calls. Thinking blocks are the model's own; OpenAI-format
 * upstreams do not take them back, so they are dropped (noted). */
static enum relay_err a2o_assistant(struct rq *r, struct json_object *content,
				    struct json_object *msgs)
{
	struct json_object *calls = NULL, *m = NULL, *blk;
	struct buf text;
	size_t i, n;
	enum relay_err rc = RE_ENOMEM;

	buf_init(&text, XL_TEXT_MAX);
	if (xl_is(content, json_type_string)) {
		m = new_msg("assistant", json_object_get(content));
		rc = m && !xl_push(msgs, m) ? RE_OK : RE_ENOMEM;
		m = NULL;
		goto out;
	}
	if (!xl_is(content, json_type_array)) {
		rc = bad(r, "message content must be a string or an array");
		goto out;
	}
	if (!(calls = json_object_new_array()))
		goto out;
	n = json_object_array_length(content);
	for (i = 0; i < n; i++) {
		const char *t;

		blk = json_object_array_get_idx(content, i);
		t = xl_str(blk, "type");
		if (xl_streq(t, "text") && xl_str(blk, "text")) {
			if (buf_puts(&text, xl_str(blk, "text")))
				goto out;
		} else if (xl_streq(t, "tool_use")) {
			if (!xl_str(blk, "id") || !xl_str(blk, "name")) {
				rc = bad(r, "tool_use block without id or name");
				goto out;
			}
			if (xl_push(calls, a2o_tool_call(blk)))
				goto out;
		} else if (xl_streq(t, "thinking") ||
			   xl_streq(t, "redacted_thinking")) {
			xlate_note_add(r->n, "dropped thinking history");
		} else {
			rc = bad(r, "assistant content block type \"%s\" cannot "
				 "be translated to the OpenAI format",
				 t ? t : "?");
			goto out;
		}
	}
	m = new_msg("assistant", text.len ? xl_buf_string(&text) : NULL);
	if (!m)
		goto out;
	if (json_object_array_length(calls)) {
		xl_add(m, "tool_calls", calls);
		calls = NULL;
	} else if (!text.len) {
		/* an assistant turn that held only thinking */
		json_object_put(m);
		m = NULL;
		rc = RE_OK;
		goto out;
	}
	rc = xl_push(msgs, m) ? RE_ENOMEM : RE_OK;
	m = NULL;
out:
	json_object_put(calls);
	buf_free(&text);
	return rc;
}

/* system (string or text blocks) and every message, in order. Claude Code
 * also puts role:"system" messages inside `messages`: they stay system
 * messages at their place. */
static enum relay_err a2o_messages(struct rq *r, struct json_object *in,
				   struct json_object *out)
{
	struct json_object *msgs = json_object_new_array(), *sys, *m;
	size_t i, n;
	enum relay_err rc = RE_ENOMEM;

	if (!msgs)
		return RE_ENOMEM;
	sys = xl_get(in, "system");
	if (xl_is(sys, json_type_array) || xl_is(sys, json_type_string)) {
		struct json_object *s = joined(sys, "\n\n", NULL);

		if (xl_is(sys, json_type_array) && json_object_array_length(sys)
		    && xl_get(json_object_array_get_idx(sys, 0),
			      "cache_control"))
			xlate_note_add(r->n, "dropped cache_control");
		if (!s || xl_push(msgs, new_msg("system", s)))
			goto out;
	}
	m = xl_get(in, "messages");
	n = xl_is(m, json_type_array) ? json_object_array_length(m) : 0;
	for (i = 0; i < n; i++) {
		struct json_object *one = json_object_array_get_idx(m, i);
		const char *role = xl_str(one, "role");
		struct json_object *c = xl_get(one, "content");

		if (xl_streq(role, "user"))
			rc = a2o_user(r, c, msgs);
		else if (xl_streq(role, "assistant"))
			rc = a2o_assistant(r, c, msgs);
		else if (xl_streq(role, "system")) {
			struct json_object *s = joined(c, "\n\n", NULL);

			rc = s && !xl_push(msgs, new_msg("system", s)) ?
				     RE_OK : RE_ENOMEM;
		} else
			rc = bad(r, "message role \"%s\" is not supported",
				 role ? role : "?");
		if (rc)
			goto out;
	}
	xl_add(out, "messages", msgs);
	return RE_OK;
out:
	json_object_put(msgs);
	return rc;
}

/* tools: custom tools become functions; server tools (web_search, bash,
 * ... : a `type` and no input_schema) run at Anthropic only. */
static enum relay_err a2o_tools(struct rq *r, struct json_object *tools,
				struct json_object *out)
{
	struct json_object *arr, *t, *f, *w;
	size_t i, n;

	if (!xl_is(tools, json_type_array))
		return bad(r, "tools must be an array");
	if (!(arr = json_object_new_array()))
		return RE_ENOMEM;
	n = json_object_array_length(tools);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(tools, i);
		if (!xl_str(t, "name") || !xl_get(t, "input_schema")) {
			xlate_note_add(r->n, "dropped server tool %s",
				       xl_str(t, "type") ? xl_str(t, "type") :
							   "?");
			continue;
		}
		w = json_object_new_object();
		f = json_object_new_object();
		if (!w || !f || xl_push(arr, w)) {
			json_object_put(f);
			json_object_put(arr);
			return RE_ENOMEM;
		}
		xl_add(w, "type", new_str("function"));
		xl_add_ref(f, "name", xl_get(t, "name"));
		if (xl_get(t, "description"))
			xl_add_ref(f, "description", xl_get(t, "description"));
		xl_add_ref(f, "parameters", xl_get(t, "input_schema"));
		xl_add(w, "function", f);
		if (xl_get(t, "cache_control"))
			xlate_note_add(r->n, "dropped cache_control");
	}
	if (json_object_array_length(arr) == 0) {
		json_object_put(arr);
		return RE_OK;
	}
	xl_add(out, "tools", arr);
	return RE_OK;
}

/* tool_choice {type: auto|any|tool|none} -> "auto"|"required"|{function}|
 * "none"; disable_parallel_tool_use -> parallel_tool_calls:false. */
static enum relay_err a2o_tool_choice(struct rq *r, struct json_object *tc,
				      struct json_object *out)
{
	const char *t = xl_str(tc, "type");
	struct json_object *v = NULL, *f;

	if (xl_streq(t, "auto"))
		v = new_str("auto");
	else if (xl_streq(t, "any"))
		v = new_str("required");
	else if (xl_streq(t, "none"))
		v = new_str("none");
	else if (xl_streq(t, "tool") && xl_str(tc, "name")) {
		v = json_object_new_object();
		f = json_object_new_object();
		if (!v || !f) {
			json_object_put(v);
			json_object_put(f);
			return RE_ENOMEM;
		}
		xl_add(v, "type", new_str("function"));
		xl_add_ref(f, "name", xl_get(tc, "name"));
		xl_add(v, "function", f);
	} else
		return bad(r, "tool_choice type \"%s\" is not supported",
			   t ? t : "?");
	if (!v)
		return RE_ENOMEM;
	xl_add(out, "tool_choice", v);
	if (json_object_get_boolean(xl_get(tc, "disable_parallel_tool_use")))
		xl_add(out, "parallel_tool_calls", json_object_new_boolean(0));
	return RE_OK;
}

/* thinking {type:enabled, budget_tokens} or {type:adaptive}, and
 * output_config.effort, -> reasoning_effort when the target takes it. */
static void a2o_reasoning(struct rq *r, struct json_object *in,
			  struct json_object *out)
{
	struct json_object *th = xl_get(in, "thinking");
	const char *tt = xl_str(th, "type");
	const char *effort = xl_str(xl_get(in, "output_config"), "effort");
	const char *e = NULL;
	long long b;

	if (xl_streq(tt, "enabled")) {
		b = xl_int(th, "budget_tokens");
		e = b < 4096 ? "low" : b < 16384 ? "medium" : "high";
	} else if (xl_streq(tt, "adaptive")) {
		e = "medium";
	}
	if (effort && (e || !th)) {
		if (xl_streq(effort, "low") || xl_streq(effort, "medium") ||
		    xl_streq(effort, "high"))
			e = effort;
		else if (xl_streq(effort, "max"))
			e = "high";
	}
	if (!e)
		return;
	if (!r->o || !r->o->reasoning_effort) {
		xlate_note_add(r->n, "dropped thinking (target has no "
				     "reasoning_effort)");
		return;
	}
	xl_add(out, "reasoning_effort", new_str(e));
}

/* One top-level member of an Anthropic request that maps 1:1 or almost. */
static enum relay_err a2o_member(struct rq *r, const char *k,
				 struct json_object *v, struct json_object *in,
				 struct json_object *out, struct xlate_info *info)
{
	if (!strcmp(k, "model") || !strcmp(k, "max_tokens") ||
	    !strcmp(k, "temperature") || !strcmp(k, "top_p")) {
		xl_add_ref(out, k, v);
	} else if (!strcmp(k, "stop_sequences")) {
		if (xl_is(v, json_type_array) && json_object_array_length(v))
			xl_add_ref(out, "stop", v);
	} else if (!strcmp(k, "stream")) {
		info->stream = json_object_get_boolean(v);
		xl_add_ref(out, "stream", v);
		if (info->stream) {
			/* the answer's usage must reach the translator and
			 * the meter */
			struct json_object *so = json_object_new_object();

			if (!so)
				return RE_ENOMEM;
			xl_add(so, "include_usage", json_object_new_boolean(1));
			xl_add(out, "stream_options", so);
		}
	} else if (!strcmp(k, "tools")) {
		return a2o_tools(r, v, out);
	} else if (!strcmp(k, "tool_choice")) {
		/* without tools OpenAI refuses a tool_choice */
		if (xl_get(in, "tools"))
			return a2o_tool_choice(r, v, out);
	} else if (!strcmp(k, "metadata")) {
		if (xl_str(v, "user_id"))
			xl_add_ref(out, "user", xl_get(v, "user_id"));
	} else if (!strcmp(k, "system") || !strcmp(k, "messages") ||
		   !strcmp(k, "thinking")) {
		/* handled as a whole elsewhere */
	} else if (!strcmp(k, "output_config") && xl_get(v, "effort") &&
		   json_object_object_length(v) == 1) {
		/* effort only: a2o_reasoning */
	} else {
		xlate_note_add(r->n, "dropped %s", k);
	}
	return RE_OK;
}

static enum relay_err a2o_request(struct rq *r, struct json_object *in,
				  struct json_object *out,
				  struct xlate_info *info)
{
	enum relay_err rc;

	json_object_object_foreach(in, k, v) {
		if ((rc = a2o_member(r, k, v, in, out, info)) != RE_OK)
			return rc;
	}
	if ((rc = a2o_messages(r, in, out)) != RE_OK)
		return rc;
	a2o_reasoning(r, in, out);
	return RE_OK;
}

/* ======================= OpenAI -> Anthropic ======================= */

/* Appends blk to the content array of the last message if it has this
 * role, else pushes a new {role, content:[blk]}: Anthropic wants user and
 * assistant turns to alternate, and several OpenAI tool messages make one
 * user turn of tool_result blocks. blk is taken over. */
static enum relay_err o2a_append(struct json_object *msgs, const char *role,
				 struct json_object *blk)
{
	size_t n = json_object_array_length(msgs);
	struct json_object *last = n ? json_object_array_get_idx(msgs, n - 1) :
				       NULL;
	struct json_object *c, *m;

	if (!blk)
		return RE_ENOMEM;
	if (last && xl_streq(xl_str(last, "role"), role)) {
		c = xl_get(last, "content");
		return xl_push(c, blk) ? RE_ENOMEM : RE_OK;
	}
	c = json_object_new_array();
	if (!c || xl_push(c, blk)) {
		json_object_put(c);
		if (!c)
			json_object_put(blk);
		return RE_ENOMEM;
	}
	m = new_msg(role, c);
	if (!m || xl_push(msgs, m))
		return RE_ENOMEM;
	return RE_OK;
}

static struct json_object *text_block(struct json_object *text)
{
	struct json_object *b = json_object_new_object();

	if (!b)
		return NULL;
	xl_add(b, "type", new_str("text"));
	xl_add_ref(b, "text", text);
	return b;
}

/* OpenAI image_url part -> Anthropic image block: a data: URL becomes a
 * base64 source, any other URL a url source. */
static enum relay_err o2a_image(struct rq *r, struct json_object *part,
				struct json_object **blk)
{
	struct json_object *iu = xl_get(part, "image_url"), *src, *b;
	const char *url = xl_is(iu, json_type_string) ?
				  json_object_get_string(iu) :
				  xl_str(iu, "url");
	const char *comma, *semi;

	*blk = NULL;
	if (!url)
		return bad(r, "image_url part without url");
	if (xl_get(iu, "detail"))
		xlate_note_add(r->n, "dropped image detail");
	src = json_object_new_object();
	b = json_object_new_object();
	if (!src || !b) {
		json_object_put(src);
		json_object_put(b);
		return RE_ENOMEM;
	}
	if (strncmp(url, "data:", 5) == 0) {
		comma = strchr(url, ',');
		semi = strchr(url, ';');
		if (!comma || !semi || semi > comma ||
		    strncmp(semi, ";base64,", 8) != 0) {
			json_object_put(src);
			json_object_put(b);
			return bad(r, "image data URL must be base64");
		}
		xl_add(src, "type", new_str("base64"));
		xl_add(src, "media_type", json_object_new_string_len(
						  url + 5, (int)(semi - url - 5)));
		xl_add(src, "data", new_str(comma + 1));
	} else {
		xl_add(src, "type", new_str("url"));
		xl_add(src, "url", new_str(url));
	}
	xl_add(b, "type", new_str("image"));
	xl_add(b, "source", src);
	*blk = b;
	return RE_OK;
}

/* OpenAI user content (string or parts) -> blocks appended as one user
 * turn. Empty text is left out: Anthropic refuses empty text blocks. */
static enum relay_err o2a_user(struct rq *r, struct json_object *c,
			       struct json_object *msgs)
{
	size_t i, n;
	enum relay_err rc;
	struct json_object *b;

	if (xl_is(c, json_type_string)) {
		if (!json_object_get_string_len(c))
			return RE_OK;
		return o2a_append(msgs, "user", text_block(c));
	}
	if (!xl_is(c, json_type_array))
		return bad(r, "message content must be a string or an array");
	n = json_object_array_length(c);
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(c, i);
		const char *t = xl_str(p, "type");

		if (xl_streq(t, "text") && xl_get(p, "text")) {
			if (!json_object_get_string_len(xl_get(p, "text")))
				continue;
			rc = o2a_append(msgs, "user", text_block(xl_get(p,
								       "text")));
		} else if (xl_streq(t, "image_url")) {
			rc = o2a_image(r, p, &b);
			if (rc == RE_OK)
				rc = o2a_append(msgs, "user", b);
		} else {
			rc = bad(r, "content part type \"%s\" cannot be "
				 "translated to the Anthropic format",
				 t ? t : "?");
		}
		if (rc)
			return rc;
	}
	return RE_OK;
}

/* tool_calls[i] -> tool_use block; arguments must be a JSON object (the
 * Anthropic API takes `input` as an object, not text). */
static enum relay_err o2a_tool_use(struct rq *r, struct json_object *tc,
				   struct json_object **blk)
{
	struct json_object *f = xl_get(tc, "function"), *in = NULL, *b;
	struct json_object *a = xl_get(f, "arguments");
	const char *args = xl_is(a, json_type_string) ?
				   json_object_get_string(a) : "";

	*blk = NULL;
	if (!xl_str(tc, "id") || !xl_str(f, "name"))
		return bad(r, "tool call without id or function name");
	if (*args) {
		in = xlate_parse(args, strlen(args));
		if (!xl_is(in, json_type_object)) {
			json_object_put(in);
			return bad(r, "tool call %s: arguments are not a JSON "
				   "object", xl_str(tc, "id"));
		}
	} else if (!(in = json_object_new_object())) {
		return RE_ENOMEM;
	}
	if (!(b = json_object_new_object())) {
		json_object_put(in);
		return RE_ENOMEM;
	}
	xl_add(b, "type", new_str("tool_use"));
	xl_add_ref(b, "id", xl_get(tc, "id"));
	xl_add_ref(b, "name", xl_get(f, "name"));
	xl_add(b, "input", in);
	*blk = b;
	return RE_OK;
}

static enum relay_err o2a_assistant(struct rq *r, struct json_object *m,
				    struct json_object *msgs)
{
	struct json_object *c = xl_get(m, "content"), *calls, *b, *s;
	size_t i, n;
	enum relay_err rc;
	int skipped = 0;

	if (xl_get(m, "reasoning_content"))
		xlate_note_add(r->n, "dropped reasoning_content history");
	if (c) {
		if (!(s = joined(c, "", &skipped)))
			return RE_ENOMEM;
		if (skipped)
			xlate_note_add(r->n, "dropped non-text assistant "
					     "content");
		if (json_object_get_string_len(s)) {
			rc = o2a_append(msgs, "assistant", text_block(s));
			if (rc) {
				json_object_put(s);
				return rc;
			}
		}
		json_object_put(s);
	}
	calls = xl_get(m, "tool_calls");
	n = xl_is(calls, json_type_array) ? json_object_array_length(calls) : 0;
	for (i = 0; i < n; i++) {
		rc = o2a_tool_use(r, json_object_array_get_idx(calls, i), &b);
		if (rc == RE_OK)
			rc = o2a_append(msgs, "assistant", b);
		if (rc)
			return rc;
	}
	return RE_OK;
}

/* role:"tool" -> a tool_result block in a user turn. */
static enum relay_err o2a_tool(struct rq *r, struct json_object *m,
			       struct json_object *msgs)
{
	struct json_object *b, *s;
	int skipped = 0;

	if (!xl_str(m, "tool_call_id"))
		return bad(r, "tool message without tool_call_id");
	if (!(b = json_object_new_object()))
		return RE_ENOMEM;
	if (!(s = joined(xl_get(m, "content"), "\n", &skipped))) {
		json_object_put(b);
		return RE_ENOMEM;
	}
	if (skipped)
		xlate_note_add(r->n, "dropped non-text tool content");
	xl_add(b, "type", new_str("tool_result"));
	xl_add_ref(b, "tool_use_id", xl_get(m, "tool_call_id"));
	xl_add(b, "content", s);
	return o2a_append(msgs, "user", b);
}

/* system/developer messages (anywhere) -> the top-level system blocks; the
 * rest -> alternating user/assistant turns. */
static enum relay_err o2a_messages(struct rq *r, struct json_object *in,
				   struct json_object *out)
{
	struct json_object *m = xl_get(in, "messages");
	struct json_object *msgs = json_object_new_array();
	struct json_object *sys = json_object_new_array();
	size_t i, n = xl_is(m, json_type_array) ? json_object_array_length(m) : 0;
	enum relay_err rc = RE_ENOMEM;

	if (!msgs || !sys)
		goto out;
	for (i = 0; i < n; i++) {
		struct json_object *one = json_object_array_get_idx(m, i), *s;
		const char *role = xl_str(one, "role");

		if (xl_streq(role, "system") || xl_streq(role, "developer")) {
			s = joined(xl_get(one, "content"), "\n", NULL);
			rc = s ? RE_OK : RE_ENOMEM;
			if (s && json_object_get_string_len(s))
				rc = xl_push(sys, text_block(s)) ? RE_ENOMEM :
								  RE_OK;
			json_object_put(s);
		} else if (xl_streq(role, "user"))
			rc = o2a_user(r, xl_get(one, "content"), msgs);
		else if (xl_streq(role, "assistant"))
			rc = o2a_assistant(r, one, msgs);
		else if (xl_streq(role, "tool"))
			rc = o2a_tool(r, one, msgs);
		else
			rc = bad(r, "message role \"%s\" cannot be translated "
				 "to the Anthropic format", role ? role : "?");
		if (rc)
			goto out;
	}
	if (json_object_array_length(sys)) {
		xl_add(out, "system", sys);
		sys = NULL;
	}
	xl_add(out, "messages", msgs);
	msgs = NULL;
	rc = RE_OK;
out:
	json_object_put(msgs);
	json_object_put(sys);
	return rc;
}

static enum relay_err o2a_tools(struct rq *r, struct json_object *tools,
				struct json_object *out)
{
	struct json_object *arr, *t, *f, *a;
	size_t i, n;

	if (!xl_is(tools, json_type_array))
		return bad(r, "tools must be an array");
	if (!(arr = json_object_new_array()))
		return RE_ENOMEM;
	n = json_object_array_length(tools);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(tools, i);
		f = xl_get(t, "function");
		if (!xl_streq(xl_str(t, "type"), "function") ||
		    !xl_str(f, "name")) {
			json_object_put(arr);
			return bad(r, "tool %zu is not a function tool", i);
		}
		if (!(a = json_object_new_object()) || xl_push(arr, a)) {
			json_object_put(arr);
			return RE_ENOMEM;
		}
		xl_add_ref(a, "name", xl_get(f, "name"));
		if (xl_get(f, "description"))
			xl_add_ref(a, "description", xl_get(f, "description"));
		if (xl_is(xl_get(f, "parameters"), json_type_object))
			xl_add_ref(a, "input_schema", xl_get(f, "parameters"));
		else
			xl_add(a, "input_schema",
			       json_tokener_parse("{\"type\":\"object\","
						  "\"properties\":{}}"));
		if (xl_get(f, "strict"))
			xlate_note_add(r->n, "dropped tool strict");
	}
	xl_add(out, "tools", arr);
	return RE_OK;
}

/* tool_choice and parallel_tool_calls -> one Anthropic tool_choice. */
static enum relay_err o2a_tool_choice(struct rq *r, struct json_object *in,
				      struct json_object *out)
{
	struct json_object *tc = xl_get(in, "tool_choice"), *v;
	struct json_object *par = xl_get(in, "parallel_tool_calls");
	const char *t = xl_is(tc, json_type_string) ?
				json_object_get_string(tc) : NULL;
	const char *name = xl_str(xl_get(tc, "function"), "name");

	if (!xl_get(in, "tools"))
		return RE_OK;
	if (!tc && !(par && !json_object_get_boolean(par)))
		return RE_OK;
	if (!(v = json_object_new_object()))
		return RE_ENOMEM;
	if (!tc || xl_streq(t, "auto"))
		xl_add(v, "type", new_str("auto"));
	else if (xl_streq(t, "required"))
		xl_add(v, "type", new_str("any"));
	else if (xl_streq(t, "none"))
		xl_add(v, "type", new_str("none"));
	else if (name) {
		xl_add(v, "type", new_str("tool"));
		xl_add(v, "name", new_str(name));
	} else {
		json_object_put(v);
		return bad(r, "tool_choice is not supported");
	}
	if (par && !json_object_get_boolean(par) && !xl_streq(t, "none"))
		xl_add(v, "disable_parallel_tool_use",
		       json_object_new_boolean(1));
	xl_add(out, "tool_choice", v);
	return RE_OK;
}

/* max tokens, and reasoning_effort -> thinking with a budget below it
 * (Anthropic: 1024 <= budget_tokens < max_tokens; with thinking on,
 * temperature and top_p may not be set). */
static enum relay_err o2a_limits(struct rq *r, struct json_object *in,
				 struct json_object *out)
{
	long long max = xl_int(in, "max_completion_tokens");
	const char *e = xl_str(in, "reasoning_effort");
	long long budget = 0;
	struct json_object *th;

	if (max <= 0)
		max = xl_int(in, "max_tokens");
	if (max <= 0) {
		max = r->o && r->o->default_max_tokens > 0 ?
			      r->o->default_max_tokens :
			      XLATE_DEFAULT_MAX_TOKENS;
		xlate_note_add(r->n, "max_tokens defaulted to %lld", max);
	}
	xl_add(out, "max_tokens", json_object_new_int64(max));
	if (xl_streq(e, "low"))
		budget = 2048;
	else if (xl_streq(e, "medium"))
		budget = 8192;
	else if (xl_streq(e, "high"))
		budget = 24576;
	if (!budget)
		return RE_OK;
	if (budget >= max)
		budget = max - 1;
	if (budget < 1024) {
		xlate_note_add(r->n, "dropped reasoning_effort (max_tokens "
				     "too small for thinking)");
		return RE_OK;
	}
	if (!(th = json_object_new_object()))
		return RE_ENOMEM;
	xl_add(th, "type", new_str("enabled"));
	xl_add(th, "budget_tokens", json_object_new_int64(budget));
	xl_add(out, "thinking", th);
	if (json_object_object_get_ex(out, "temperature", NULL)) {
		json_object_object_del(out, "temperature");
		xlate_note_add(r->n, "dropped temperature (thinking)");
	}
	if (json_object_object_get_ex(out, "top_p", NULL)) {
		json_object_object_del(out, "top_p");
		xlate_note_add(r->n, "dropped top_p (thinking)");
	}
	return RE_OK;
}

static enum relay_err o2a_member(struct rq *r, const char *k,
				 struct json_object *v, struct json_object *out,
				 struct xlate_info *info)
{
	if (!strcmp(k, "model") || !strcmp(k, "top_p")) {
		xl_add_ref(out, k, v);
	} else if (!strcmp(k, "temperature")) {
		/* OpenAI's range is 0..2, Anthropic's 0..1 */
		if (json_object_get_double(v) > 1.0) {
			xl_add(out, k, json_object_new_double(1.0));
			xlate_note_add(r->n, "temperature capped at 1");
		} else {
			xl_add_ref(out, k, v);
		}
	} else if (!strcmp(k, "stop")) {
		struct json_object *a;

		if (xl_is(v, json_type_array) && json_object_array_length(v)) {
			xl_add_ref(out, "stop_sequences", v);
		} else if (xl_is(v, json_type_string)) {
			if (!(a = json_object_new_array()))
				return RE_ENOMEM;
			xl_push(a, json_object_get(v));
			xl_add(out, "stop_sequences", a);
		}
	} else if (!strcmp(k, "stream")) {
		info->stream = json_object_get_boolean(v);
		xl_add_ref(out, k, v);
	} else if (!strcmp(k, "stream_options")) {
		info->include_usage =
			json_object_get_boolean(xl_get(v, "include_usage"));
	} else if (!strcmp(k, "user")) {
		struct json_object *md = json_object_new_object();

		if (!md)
			return RE_ENOMEM;
		xl_add_ref(md, "user_id", v);
		xl_add(out, "metadata", md);
	} else if (!strcmp(k, "n")) {
		if (json_object_get_int64(v) > 1)
			return bad(r, "n > 1 cannot be translated to the "
				   "Anthropic format");
	} else if (!strcmp(k, "response_format")) {
		/* a schema the answer must follow has no Anthropic
		 * equivalent: refusing beats an answer that ignores it */
		if (xl_streq(xl_str(v, "type"), "json_schema"))
			return bad(r, "response_format json_schema cannot be "
				   "translated to the Anthropic format");
		if (!xl_streq(xl_str(v, "type"), "text"))
			xlate_note_add(r->n, "dropped response_format");
	} else if (!strcmp(k, "functions") || !strcmp(k, "function_call")) {
		return bad(r, "%s is not supported here; use tools", k);
	} else if (!strcmp(k, "tools")) {
		return o2a_tools(r, v, out);
	} else if (!strcmp(k, "messages") || !strcmp(k, "max_tokens") ||
		   !strcmp(k, "max_completion_tokens") ||
		   !strcmp(k, "tool_choice") ||
		   !strcmp(k, "parallel_tool_calls") ||
		   !strcmp(k, "reasoning_effort")) {
		/* handled as a whole elsewhere */
	} else {
		xlate_note_add(r->n, "dropped %s", k);
	}
	return RE_OK;
}

static enum relay_err o2a_request(struct rq *r, struct json_object *in,
				  struct json_object *out,
				  struct xlate_info *info)
{
	enum relay_err rc;

	/* model, max_tokens, system, messages first, like Anthropic's docs */
	if (xl_get(in, "model"))
		xl_add_ref(out, "model", xl_get(in, "model"));
	if ((rc = o2a_messages(r, in, out)) != RE_OK)
		return rc;
	json_object_object_foreach(in, k, v) {
		if (!strcmp(k, "model"))
			continue;
		if ((rc = o2a_member(r, k, v, out, info)) != RE_OK)
			return rc;
	}
	if ((rc = o2a_tool_choice(r, in, out)) != RE_OK)
		return rc;
	return o2a_limits(r, in, out);
}

enum relay_err xlate_request(enum fmt_kind from, struct json_object *in,
			     const struct xlate_opts *o,
			     struct json_object **out, struct xlate_info *info,
			     struct xlate_note *n, char *why, size_t whylen)
{
	struct rq r = { o, n, why, whylen };
	struct xlate_info scratch;
	struct json_object *res;
	const char *model;
	enum relay_err rc;

	*out = NULL;
	if (why && whylen)
		why[0] = '\0';
	if (!info)
		info = &scratch;
	memset(info, 0, sizeof *info);
	if (!xl_is(in, json_type_object))
		return bad(&r, "request body is not a JSON object");
	if (!xl_is(xl_get(in, "messages"), json_type_array))
		return bad(&r, "messages must be an array");
	model = xl_str(in, "model");
	if (model)
		snprintf(info->model, sizeof info->model, "%s", model);
	if (!(res = json_object_new_object()))
		return RE_ENOMEM;
	if (from == FMT_ANTHROPIC)
		rc = a2o_request(&r, in, res, info);
	else
		rc = o2a_request(&r, in, res, info);
	if (rc) {
		json_object_put(res);
		return rc;
	}
	*out = res;
	return RE_OK;
}
