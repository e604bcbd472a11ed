/* test_xlate_rs.c - golden-file tests of the Responses API <-> Chat
 * Completions translators (xlrs.c, xrsse.c), issue 26.
 *
 * Every folder under tests/golden/xlate_rs/ is one case. meta.json may say
 * "reasoning_effort" (1: reasoning.effort is passed on), "refuse" (a
 * substring of the refusal reason) and "note" (a substring of the note).
 * Then, each where its files exist:
 *   client_request.json  -> upstream_request.json (Responses -> Chat)
 *   upstream_reply.json  -> client_reply.json     (Chat -> Responses)
 *   upstream_events.txt  -> client_events.txt     (Chat chunks -> events;
 *                           fed whole and one byte at a time, same bytes)
 *   client_reply.json    -> client_events_from_reply.txt (from_answer)
 * JSON compared as JSON, streams byte for byte. XLATE_BLESS=1 writes a
 * missing expected file from the output, to be reviewed by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xlrs.h"

#define MAX_CASES 64
#define ROOT "tests/golden/xlate_rs"

struct rcase {
	char dir[512];
};

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[768];
	FILE *f;
	char *s = NULL;
	long n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
		if (fread(s, 1, (size_t)n, f) != (size_t)n) {
			free(s);
			s = NULL;
		} else {
			s[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return s;
}

/* The expected file, or (XLATE_BLESS=1) got written as it. */
static char *expected(const char *dir, const char *name, const struct buf *got,
		      size_t *len)
{
	char *s = slurp(dir, name, len), path[768];
	const char *b = getenv("XLATE_BLESS");
	FILE *f;

	if (s)
		return s;
	if (!b || *b != '1')
		fail_msg("%s/%s missing", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(got->data, 1, got->len, f), got->len);
	fclose(f);
	fprintf(stderr, "blessed %s (review it)\n", path);
	return slurp(dir, name, len);
}

static void same_json(const char *what, const char *want, size_t wl,
		      const struct buf *got)
{
	struct json_object *a = xlate_parse(want, wl);
	struct json_object *b = xlate_parse(got->data, got->len);
	int same = a && b && json_object_equal(a, b);

	if (!same)
		fprintf(stderr, "%s differs\n want: %.*s\n  got: %.*s\n", what,
			(int)wl, want, (int)got->len, got->data);
	json_object_put(a);
	json_object_put(b);
	assert_true(same);
}

static void case_request(const char *dir, struct json_object *meta)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct xlate_info info;
	struct xlate_note n;
	struct json_object *v;
	struct buf out;
	char why[300] = "", *in, *want;
	size_t len, wl;
	enum relay_err rc;

	if (!(in = slurp(dir, "client_request.json", &len)))
		return;
	memset(&n, 0, sizeof n);
	if (json_object_object_get_ex(meta, "reasoning_effort", &v))
		o.reasoning_effort = json_object_get_int(v);
	buf_init(&out, 1 << 24);
	rc = xlrs_request_text(in, len, &o, &out, &info, &n, why, sizeof why);
	if (json_object_object_get_ex(meta, "refuse", &v)) {
		assert_int_equal(rc, RE_EINVAL);
		if (!strstr(why, json_object_get_string(v)))
			fail_msg("refusal \"%s\" lacks \"%s\"", why, json_object_get_string(v));
	} else {
		assert_int_equal(rc, RE_OK);
		want = expected(dir, "upstream_request.json", &out, &wl);
		same_json("upstream_request.json", want, wl, &out);
		free(want);
	}
	if (json_object_object_get_ex(meta, "note", &v) &&
	    !strstr(n.text, json_object_get_string(v)))
		fail_msg("note \"%s\" lacks \"%s\"", n.text, json_object_get_string(v));
	buf_free(&out);
	free(in);
}

static void case_reply(const char *dir)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct buf out;
	char *in, *want;
	size_t len, wl;

	if (!(in = slurp(dir, "upstream_reply.json", &len)))
		return;
	buf_init(&out, 1 << 24);
	assert_int_equal(xlrs_response_text(in, len, &o, NULL, &out, NULL), RE_OK);
	want = expected(dir, "client_reply.json", &out, &wl);
	same_json("client_reply.json", want, wl, &out);
	free(want);
	free(in);
	buf_free(&out);
}

/* The upstream bytes fed in pieces of step bytes (0 = whole). */
static void run_stream(const char *in, size_t len, size_t step, struct buf *out)
{
	struct xlate_opts o = { 1700000000, 0, 0 };
	struct xrsse x;
	size_t i, k;

	xrsse_init(&x, &o, NULL);
	for (i = 0; i < len; i += k) {
		k = step && len - i > step ? step : len - i;
		assert_int_equal(xrsse_feed(&x, in + i, k, out), RE_OK);
	}
	assert_int_equal(xrsse_end(&x, out), RE_OK);
	xrsse_free(&x);
}

static void case_stream(const char *dir)
{
	struct buf a, b;
	char *in, *want;
	size_t len, wl;

	if (!(in = slurp(dir, "upstream_events.txt", &len)))
		return;
	buf_init(&a, 1 << 24);
	buf_init(&b, 1 << 24);
	run_stream(in, len, 0, &a);
	run_stream(in, len, 1, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	want = expected(dir, "client_events.txt", &a, &wl);
	if (wl != a.len || memcmp(want, a.data, wl))
		fail_msg("client_events.txt differs; got:\n%.*s", (int)a.len, a.data);
	free(want);
	free(in);
	buf_free(&a);
	buf_free(&b);
}

static void case_from_reply(const char *dir)
{
	struct json_object *ans;
	struct buf a;
	char *in, *want, *ev = slurp(dir, "upstream_events.txt", NULL);
	size_t len, wl;

	/* only cases about streams */
	in = ev ? slurp(dir, "client_reply.json", &len) : NULL;
	free(ev);
	if (!in)
		return;
	ans = xlate_parse(in, len);
	assert_non_null(ans);
	buf_init(&a, 1 << 24);
	assert_int_equal(xrsse_from_answer(ans, &a), RE_OK);
	want = expected(dir, "client_events_from_reply.txt", &a, &wl);
	if (wl != a.len || memcmp(want, a.data, wl))
		fail_msg("client_events_from_reply.txt differs; got:\n%.*s", (int)a.len, a.data);
	free(want);
	free(in);
	json_object_put(ans);
	buf_free(&a);
}

static void test_golden(void **state)
{
	const struct rcase *c = *state;
	size_t len;
	char *m = slurp(c->dir, "meta.json", &len);
	struct json_object *meta = m ? xlate_parse(m, len) : json_object_new_object();

	case_request(c->dir, meta);
	case_reply(c->dir);
	case_stream(c->dir);
	case_from_reply(c->dir);
	json_object_put(meta);
	free(m);
}

/* An upstream error mid-stream ends it with response.failed, nothing after. */
static void test_stream_error(void **state)
{
	static const char up[] =
		"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
		"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"
		"data: [DONE]\n\n";
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 20);
	run_stream(up, sizeof up - 1, 0, &out);
	assert_non_null(strstr(out.data, "event: response.failed"));
	assert_non_null(strstr(out.data, "\"message\":\"overloaded\""));
	assert_null(strstr(out.data, "response.completed"));
	buf_free(&out);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct rcase *)a)->dir, ((const struct rcase *)b)->dir);
}

int main(void)
{
	static struct rcase cases[MAX_CASES];
	struct CMUnitTest tests[MAX_CASES + 2];
	struct dirent *de;
	DIR *d = opendir(ROOT);
	int n = 0, i;

	if (!d) {
		fprintf(stderr, "test_xlate_rs: cannot open %s\n", ROOT);
		return 1;
	}
	while ((de = readdir(d)) && n < MAX_CASES) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(cases[n].dir, sizeof cases[n].dir, "%s/%s", ROOT, de->d_name);
		n++;
	}
	closedir(d);
	qsort(cases, (size_t)n, sizeof cases[0], by_name);
	for (i = 0; i < n; i++) {
		struct CMUnitTest u = { cases[i].dir + strlen(ROOT) + 1,
					test_golden, NULL, NULL, &cases[i] };
		tests[i] = u;
	}
	{
		struct CMUnitTest e = cmocka_unit_test(test_stream_error);
		tests[n++] = e;
	}
	return _cmocka_run_group_tests("xlate_rs", tests, (size_t)n, NULL, NULL);
}
