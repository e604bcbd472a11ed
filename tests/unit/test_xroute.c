/* test_xroute.c - the translation wrapper between the relay and the client
 * (xroute.c), driven the way relay.c drives a relay_dest, with a recording
 * destination in place of the client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "xroute.h"

/* What the client side got. */
struct rec {
	int starts, status, sse, fail_write;
	char ct[64];
	struct buf body;
	int flushes;
};

static int r_start_hdr(void *ctx, int status, const char *ct, int sse,
		       const char *h)
{
	struct rec *r = ctx;

	(void)h;
	r->starts++;
	r->status = status;
	r->sse = sse;
	snprintf(r->ct, sizeof r->ct, "%s", ct);
	return 0;
}

static int r_start(void *ctx, int status, const char *ct, int sse)
{
	return r_start_hdr(ctx, status, ct, sse, NULL);
}

static int r_write(void *ctx, const char *p, size_t n)
{
	struct rec *r = ctx;

	if (r->fail_write)
		return -1;
	return buf_append(&r->body, p, n) ? -1 : 0;
}

static int r_flush(void *ctx)
{
	((struct rec *)ctx)->flushes++;
	return 0;
}

struct fix {
	struct rec r;
	struct relay_dest inner;
	struct xroute t;
	struct up_req rq;
	const struct relay_dest *d;
};

/* A wrapper for an Anthropic client on an OpenAI upstream, as xroute_setup
 * leaves it (without the database and the request). */
static struct fix *fix_new(void)
{
	struct fix *f = calloc(1, sizeof *f);

	assert_non_null(f);
	buf_init(&f->r.body, 1 << 20);
	f->inner.start = r_start;
	f->inner.write = r_write;
	f->inner.flush = r_flush;
	f->inner.start_hdr = r_start_hdr;
	f->inner.ctx = &f->r;
	xroute_init(&f->t);
	f->t.on = 1;
	f->t.client = FMT_ANTHROPIC;
	f->t.upstream = FMT_OPENAI;
	f->t.o.now = 1700000000;
	xsse_init(&f->t.sse, FMT_OPENAI, &f->t.o, &f->t.info);
	f->t.body.max = 4096;
	buf_puts(&f->t.body, "{\"model\":\"m\",\"messages\":[]}");
	f->rq.fmt = FMT_ANTHROPIC;
	f->d = xroute_wrap(&f->t, &f->rq, &f->inner);
	return f;
}

static void fix_free(struct fix *f)
{
	xroute_free(&f->t);
	buf_free(&f->r.body);
	free(f);
}

static struct json_object *body_json(const struct fix *f)
{
	struct json_object *j = xlate_parse(f->r.body.data, f->r.body.len);

	assert_non_null(j);
	return j;
}

static const char *jstr(struct json_object *j, const char *a, const char *b)
{
	struct json_object *v = json_object_object_get(j, a);

	if (b)
		v = json_object_object_get(v, b);
	return json_object_get_string(v);
}

static void test_wrap_points_at_translation(void **state)
{
	struct fix *f = fix_new();

	(void)state;
	assert_int_equal(f->rq.fmt, FMT_OPENAI);
	assert_ptr_equal(f->rq.body, f->t.body.data);
	assert_int_equal(f->rq.body_len, f->t.body.len);
	assert_ptr_not_equal(f->d, &f->inner);
	fix_free(f);
}

/* A plain answer is held until the end, then sent translated. */
static void test_plain_answer(void **state)
{
	static const char ans[] =
		"{\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
		"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,"
		"\"completion_tokens\":1}}";
	struct fix *f = fix_new();
	struct relay_outcome oc;
	struct json_object *j;

	(void)state;
	memset(&oc, 0, sizeof oc);
	assert_int_equal(f->d->start_hdr(f->d->ctx, 200, "application/json", 0,
					 "x-request-id: 1\r\n"), 0);
	assert_int_equal(f->d->write(f->d->ctx, ans, 20), 0);
	assert_int_equal(f->d->write(f->d->ctx, ans + 20, sizeof ans - 21), 0);
	assert_int_equal(f->d->flush(f->d->ctx), 0);
	assert_int_equal(f->r.starts, 0);      /* nothing out before the end */
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.starts, 1);
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.ct, "application/json");
	j = body_json(f);
	assert_string_equal(jstr(j, "type", NULL), "message");
	assert_string_equal(jstr(j, "stop_reason", NULL), "end_turn");
	json_object_put(j);
	fix_free(f);
}

/* An upstream error page becomes an error in the client's format with the
 * upstream's status. */
static void test_error_answer(void **state)
{
	static const char page[] = "<html>Bad Gateway</html>";
	struct fix *f = fix_new();
	struct relay_outcome oc;
	struct json_object *j;

	(void)state;
	memset(&oc, 0, sizeof oc);
	f->d->start_hdr(f->d->ctx, 503, "text/html", 0, NULL);
	f->d->write(f->d->ctx, page, sizeof page - 1);
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.status, 503);
	j = body_json(f);
	assert_string_equal(jstr(j, "type", NULL), "error");
	assert_string_equal(jstr(j, "error", "type"), "overloaded_error");
	assert_string_equal(jstr(j, "error", "message"), page);
	json_object_put(j);
	fix_free(f);
}

/* A 200 that is not JSON cannot be translated: a 502 in the client's
 * format, never the raw bytes. So is one too large to hold. */
static void test_untranslatable_answer(void **state)
{
	struct fix *f = fix_new();
	struct relay_outcome oc;
	struct json_object *j;

	(void)state;
	memset(&oc, 0, sizeof oc);
	f->d->start_hdr(f->d->ctx, 200, "application/json", 0, NULL);
	f->d->write(f->d->ctx, "{cut", 4);
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.status, 502);
	j = body_json(f);
	assert_string_equal(jstr(j, "error", "type"), "api_error");
	json_object_put(j);
	fix_free(f);

	f = fix_new();
	f->t.held.max = 8;
	f->d->start_hdr(f->d->ctx, 200, "application/json", 0, NULL);
	f->d->write(f->d->ctx, "{\"a\":\"123456789\"}", 17);
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.status, 502);
	fix_free(f);
}

/* A stream request answered with one JSON body still gets its stream. */
static void test_plain_answer_to_stream_request(void **state)
{
	static const char ans[] =
		"{\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
		"\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,"
		"\"completion_tokens\":1}}";
	struct fix *f = fix_new();
	struct relay_outcome oc;
	const char *s;

	(void)state;
	memset(&oc, 0, sizeof oc);
	f->t.info.stream = 1;
	f->d->start_hdr(f->d->ctx, 200, "application/json", 0, NULL);
	f->d->write(f->d->ctx, ans, sizeof ans - 1);
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.status, 200);
	assert_int_equal(f->r.sse, 1);
	assert_string_equal(f->r.ct, "text/event-stream");
	s = f->r.body.data;
	assert_true(strncmp(s, "event: message_start\n", 21) == 0);
	assert_non_null(strstr(s, "\"text\":\"hi\""));
	assert_non_null(strstr(s, "\"stop_reason\":\"max_tokens\""));
	assert_non_null(strstr(s, "event: message_stop\n"));
	fix_free(f);
}

/* A stream starts at once, each whole event goes out translated as it is
 * written, and a clean end adds the closing events. */
static void test_stream(void **state)
{
	static const char e1[] =
		"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n";
	static const char e2[] =
		"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
	struct fix *f = fix_new();
	struct relay_outcome oc;
	size_t after1;

	(void)state;
	memset(&oc, 0, sizeof oc);
	assert_int_equal(f->d->start_hdr(f->d->ctx, 200, "text/event-stream", 1,
					 NULL), 0);
	assert_int_equal(f->r.starts, 1);
	assert_int_equal(f->r.sse, 1);
	assert_int_equal(f->d->write(f->d->ctx, e1, sizeof e1 - 1), 0);
	assert_int_equal(f->d->flush(f->d->ctx), 0);
	assert_int_equal(f->r.flushes, 1);
	assert_non_null(strstr(f->r.body.data, "event: message_start"));
	assert_non_null(strstr(f->r.body.data, "\"text\":\"hi\""));
	after1 = f->r.body.len;
	f->d->write(f->d->ctx, e2, sizeof e2 - 1);
	assert_null(strstr(f->r.body.data, "message_stop"));
	xroute_end(&f->t, &oc);
	assert_true(f->r.body.len > after1);
	assert_non_null(strstr(f->r.body.data + after1, "event: message_stop"));
	fix_free(f);
}

/* A broken stream ends with the relay's own error event (translated like
 * any other), nothing after it; a client that left gets nothing more. */
static void test_stream_broken_and_gone(void **state)
{
	static const char err[] =
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
		"\"upstream_error\",\"message\":\"closed early\"}}\n\n";
	struct fix *f = fix_new();
	struct relay_outcome oc;

	(void)state;
	memset(&oc, 0, sizeof oc);
	f->d->start_hdr(f->d->ctx, 200, "text/event-stream", 1, NULL);
	f->d->write(f->d->ctx, err, sizeof err - 1);
	oc.err = RE_EUPSTREAM;
	xroute_end(&f->t, &oc);
	assert_non_null(strstr(f->r.body.data, "event: error"));
	assert_non_null(strstr(f->r.body.data, "closed early"));
	assert_null(strstr(f->r.body.data, "message_stop"));
	fix_free(f);

	f = fix_new();
	f->d->start_hdr(f->d->ctx, 200, "text/event-stream", 1, NULL);
	f->r.fail_write = 1;
	assert_int_not_equal(f->d->write(f->d->ctx, err, sizeof err - 1), 0);
	f->r.fail_write = 0;
	oc.err = RE_ECLIENT;
	xroute_end(&f->t, &oc);
	assert_int_equal(f->r.body.len, 0);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrap_points_at_translation),
		cmocka_unit_test(test_plain_answer),
		cmocka_unit_test(test_error_answer),
		cmocka_unit_test(test_untranslatable_answer),
		cmocka_unit_test(test_plain_answer_to_stream_request),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_broken_and_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
