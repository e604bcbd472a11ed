/* test_xlate.c - golden-file tests of the translation module (xlate.c,
 * xlreq.c, xlresp.c) and the stream translator (xsse.c), plus a few
 * targeted cases.
 *
 * Every folder under tests/golden/xlate/ ($XLATE_GOLDEN overrides) is one
 * case, run as its own cmocka test. meta.json says the direction
 * ({"client": "anthropic"|"openai", "upstream": ...}) and optionally
 * "now", "reasoning_effort", "status" (the upstream's HTTP status; >= 400
 * means upstream_reply.json is an error body), "refuse" (a substring of
 * the reason a refused request gets) and "note" (a substring the
 * translation note must contain). Then, each where its files exist:
 *   client_request.json -> upstream_request.json (which the opposite
 *                          direction must accept in turn)
 *   upstream_reply.json -> client_reply.json
 *   upstream_events.txt -> client_events.txt
 *   client_reply.json -> client_events_from_reply.txt (when the client
 *                          asked for a stream: xsse_from_answer)
 * JSON is compared semantically (json_object_equal), streams event by
 * event (name and data), and the stream is fed three ways (whole, one
 * event at a time, one byte at a time) which must give the same bytes.
 * XLATE_BLESS=1 writes a missing expected file from the current output,
 * to be reviewed by hand before it is committed. */
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
#include "xsse.h"

#define MAX_CASES 128

struct gcase {
	char dir[512];
	enum fmt_kind client, upstream;
	struct xlate_opts o;
	int status;
	char refuse[200];
	char note[200];
};

/* Whole file into a new NUL-terminated buffer (caller frees), or NULL. */
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

static void bless(const char *dir, const char *name, const char *s, size_t n)
{
	char path[768];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	fclose(f);
	fprintf(stderr, "blessed %s (review it)\n", path);
}

static int blessing(void)
{
	const char *b = getenv("XLATE_BLESS");

	return b && *b == '1';
}

/* Expected file or, when blessing, the output written as the expectation. */
static char *expected(const char *dir, const char *name, const struct buf *got,
		      int pretty)
{
	char *s = slurp(dir, name, NULL);

	if (s || !blessing()) {
		if (!s)
			fail_msg("%s/%s missing", dir, name);
		return s;
	}
	if (pretty) {
		struct json_object *j = xlate_parse(got->data, got->len);
		const char *t = json_object_to_json_string_ext(
			j, JSON_C_TO_STRING_PRETTY |
				   JSON_C_TO_STRING_NOSLASHESCAPE);
		size_t n = strlen(t);
		char *nl = malloc(n + 2);

		assert_non_null(nl);
		memcpy(nl, t, n);
		nl[n] = '\n';
		bless(dir, name, nl, n + 1);
		free(nl);
		json_object_put(j);
	} else {
		bless(dir, name, got->data, got->len);
	}
	return slurp(dir, name, NULL);
}

/* Asserts two JSON texts are equal as JSON, printing both if not. */
static void assert_json_same(const char *what, const char *want,
			     size_t wantlen, const char *got, size_t gotlen)
{
	struct json_object *a = xlate_parse(want, wantlen);
	struct json_object *b = xlate_parse(got, gotlen);
	int same = a && b && json_object_equal(a, b);

	if (!same)
		fprintf(stderr, "%s differs\n want: %.*s\n  got: %.*s\n", what,
			(int)wantlen, want, (int)gotlen, got);
	json_object_put(a);
	json_object_put(b);
	assert_true(same);
}

/* ---- streams as event lists ---- */

#define MAX_EVENTS 512

struct evlist {
	int n;
	char name[MAX_EVENTS][64];
	char *data[MAX_EVENTS];
	size_t len[MAX_EVENTS];
	struct sse_parser p;
};

static void collect(void *ctx, unsigned long long s, unsigned long long e,
		    const char *data, size_t len)
{
	struct evlist *l = ctx;

	(void)s;
	(void)e;
	assert_true(l->n < MAX_EVENTS);
	snprintf(l->name[l->n], sizeof l->name[l->n], "%s", l->p.event);
	l->data[l->n] = malloc(len + 1);
	assert_non_null(l->data[l->n]);
	memcpy(l->data[l->n], data, len);
	l->data[l->n][len] = '\0';
	l->len[l->n] = len;
	l->n++;
}

static void events_of(const char *s, size_t n, struct evlist *l)
{
	memset(l, 0, sizeof *l);
	sse_init(&l->p);
	l->p.on_event = collect;
	l->p.on_event_ctx = l;
	sse_feed(&l->p, s, n);
	sse_free(&l->p);
}

static void events_free(struct evlist *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->data[i]);
}

/* Event by event: same names, data equal as JSON (or as text). */
static void assert_events_same(const char *want, size_t wn, const char *got,
			       size_t gn)
{
	struct evlist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	int i;

	assert_non_null(a);
	assert_non_null(b);
	events_of(want, wn, a);
	events_of(got, gn, b);
	if (a->n != b->n)
		fprintf(stderr, "event count: want %d, got %d\n--- got:\n%.*s\n",
			a->n, b->n, (int)gn, got);
	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		char what[64];

		snprintf(what, sizeof what, "event %d", i + 1);
		if (strcmp(a->name[i], b->name[i]))
			fprintf(stderr, "%s name: want %s, got %s\n", what,
				a->name[i], b->name[i]);
		assert_string_equal(a->name[i], b->name[i]);
		if (a->len[i] == 6 && !memcmp(a->data[i], "[DONE]", 6))
			assert_string_equal(a->data[i], b->data[i]);
		else
			assert_json_same(what, a->data[i], a->len[i],
					 b->data[i], b->len[i]);
	}
	events_free(a);
	events_free(b);
	free(a);
	free(b);
}

/* ---- one case ---- */

static void load_meta(struct gcase *c)
{
	char *m = slurp(c->dir, "meta.json", NULL);
	struct json_object *j, *v;

	assert_non_null(m);
	j = xlate_parse(m, strlen(m));
	assert_non_null(j);
	c->client = !strcmp(json_object_get_string(
				    json_object_object_get(j, "client")),
			    "anthropic") ? FMT_ANTHROPIC : FMT_OPENAI;
	c->upstream = c->client == FMT_ANTHROPIC ? FMT_OPENAI : FMT_ANTHROPIC;
	c->o.now = 1700000000;
	c->o.reasoning_effort = 1;
	c->status = 200;
	if (json_object_object_get_ex(j, "now", &v))
		c->o.now = json_object_get_int64(v);
	if (json_object_object_get_ex(j, "reasoning_effort", &v))
		c->o.reasoning_effort = json_object_get_boolean(v);
	if (json_object_object_get_ex(j, "status", &v))
		c->status = json_object_get_int(v);
	if (json_object_object_get_ex(j, "refuse", &v))
		snprintf(c->refuse, sizeof c->refuse, "%s",
			 json_object_get_string(v));
	if (json_object_object_get_ex(j, "note", &v))
		snprintf(c->note, sizeof c->note, "%s",
			 json_object_get_string(v));
	json_object_put(j);
	free(m);
}

static void run_request(struct gcase *c, struct xlate_info *info)
{
	size_t n;
	char *in = slurp(c->dir, "client_request.json", &n), *want;
	struct buf out;
	struct xlate_note note;
	char why[300];
	enum relay_err rc;

	if (!in)
		return;
	memset(&note, 0, sizeof note);
	buf_init(&out, 1 << 24);
	rc = xlate_request_text(c->client, in, n, &c->o, &out, info, &note,
				why, sizeof why);
	if (c->refuse[0]) {
		if (rc != RE_EINVAL || !strstr(why, c->refuse))
			fprintf(stderr, "want refusal \"%s\", got rc %d \"%s\"\n",
				c->refuse, (int)rc, why);
		assert_int_equal(rc, RE_EINVAL);
		assert_non_null(strstr(why, c->refuse));
		goto out;
	}
	if (rc)
		fprintf(stderr, "%s: rc %d: %s\n", c->dir, (int)rc, why);
	assert_int_equal(rc, RE_OK);
	if (c->note[0]) {
		if (!strstr(note.text, c->note))
			fprintf(stderr, "note \"%s\" lacks \"%s\"\n", note.text,
				c->note);
		assert_non_null(strstr(note.text, c->note));
	}
	want = expected(c->dir, "upstream_request.json", &out, 1);
	assert_json_same("upstream_request.json", want, strlen(want), out.data,
			 out.len);
	/* the other direction takes what this one produced */
	buf_reset(&out);
	rc = xlate_request_text(c->upstream, want, strlen(want), &c->o, &out,
				NULL, &note, why, sizeof why);
	if (rc)
		fprintf(stderr, "%s: back: rc %d: %s\n", c->dir, (int)rc, why);
	assert_int_equal(rc, RE_OK);
	free(want);
out:
	buf_free(&out);
	free(in);
}

static void run_reply(struct gcase *c, const struct xlate_info *info)
{
	size_t n;
	char *in = slurp(c->dir, "upstream_reply.json", &n), *want;
	struct buf out;
	struct xlate_note note;
	enum relay_err rc;

	if (!in)
		return;
	memset(&note, 0, sizeof note);
	buf_init(&out, 1 << 24);
	if (c->status >= 400)
		rc = xlate_error_text(c->client, c->status, in, n, &out);
	else
		rc = xlate_response_text(c->upstream, in, n, &c->o, info, &out,
					 &note);
	assert_int_equal(rc, RE_OK);
	want = expected(c->dir, "client_reply.json", &out, 1);
	assert_json_same("client_reply.json", want, strlen(want), out.data,
			 out.len);
	if (c->status < 400 && info->stream) {
		/* a stream request answered with one body: the same answer
		 * as the client's event stream */
		struct json_object *j = xlate_parse(want, strlen(want));
		char *ev;

		assert_non_null(j);
		buf_reset(&out);
		assert_int_equal(xsse_from_answer(c->client, j,
						  info->include_usage, &out),
				 RE_OK);
		json_object_put(j);
		ev = expected(c->dir, "client_events_from_reply.txt", &out, 0);
		assert_events_same(ev, strlen(ev), out.data, out.len);
		free(ev);
	}
	free(want);
	buf_free(&out);
	free(in);
}

/* Translates a stream three ways; all must give the same bytes. */
static void run_events(struct gcase *c, const struct xlate_info *info)
{
	size_t n, i;
	char *in = slurp(c->dir, "upstream_events.txt", &n), *want;
	struct buf whole, bytes, evs;
	struct xsse *x = malloc(sizeof *x);
	struct evlist *l = malloc(sizeof *l);

	assert_non_null(x);
	assert_non_null(l);
	if (!in)
		goto out;
	buf_init(&whole, 1 << 24);
	buf_init(&bytes, 1 << 24);
	buf_init(&evs, 1 << 24);

	xsse_init(x, c->upstream, &c->o, info);
	assert_int_equal(xsse_feed(x, in, n, &whole), RE_OK);
	assert_int_equal(xsse_end(x, &whole), RE_OK);
	xsse_free(x);

	xsse_init(x, c->upstream, &c->o, info);
	for (i = 0; i < n; i++)
		assert_int_equal(xsse_feed(x, in + i, 1, &bytes), RE_OK);
	assert_int_equal(xsse_end(x, &bytes), RE_OK);
	xsse_free(x);

	events_of(in, n, l);
	xsse_init(x, c->upstream, &c->o, info);
	for (i = 0; i < (size_t)l->n; i++)
		assert_int_equal(xsse_event(x, l->name[i], l->data[i],
					    l->len[i], &evs), RE_OK);
	assert_int_equal(xsse_end(x, &evs), RE_OK);
	xsse_free(x);
	events_free(l);

	assert_int_equal(whole.len, bytes.len);
	assert_memory_equal(whole.data, bytes.data, whole.len);
	assert_int_equal(whole.len, evs.len);
	assert_memory_equal(whole.data, evs.data, whole.len);

	want = expected(c->dir, "client_events.txt", &whole, 0);
	assert_events_same(want, strlen(want), whole.data, whole.len);
	free(want);
	buf_free(&whole);
	buf_free(&bytes);
	buf_free(&evs);
out:
	free(in);
	free(x);
	free(l);
}

static void test_golden(void **state)
{
	struct gcase *c = *state;
	struct xlate_info info;

	load_meta(c);
	memset(&info, 0, sizeof info);
	run_request(c, &info);
	run_reply(c, &info);
	run_events(c, &info);
}

/* ---- targeted cases ---- */

static void test_wanted(void **state)
{
	(void)state;
	assert_int_equal(xlate_wanted(FMT_OPENAI, FMT_OPENAI), 0);
	assert_int_equal(xlate_wanted(FMT_ANTHROPIC, FMT_ANTHROPIC), 0);
	assert_int_equal(xlate_wanted(FMT_ANTHROPIC, FMT_OPENAI), 1);
	assert_int_equal(xlate_wanted(FMT_OPENAI, FMT_ANTHROPIC), 1);
}

/* An error page that is not JSON (and not UTF-8) still gives a clean
 * error body in each format. */
static void test_error_not_json(void **state)
{
	static const char page[] = "<html>502 Bad\xff\xfe Gateway</html>";
	struct buf out;
	struct json_object *j, *e;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(xlate_error_text(FMT_ANTHROPIC, 502, page,
					  sizeof page - 1, &out), RE_OK);
	j = xlate_parse(out.data, out.len);
	assert_non_null(j);
	assert_string_equal(json_object_get_string(
				    json_object_object_get(j, "type")), "error");
	e = json_object_object_get(j, "error");
	assert_string_equal(json_object_get_string(
				    json_object_object_get(e, "type")),
			    "api_error");
	assert_string_equal(json_object_get_string(
				    json_object_object_get(e, "message")),
			    "<html>502 Bad?? Gateway</html>");
	json_object_put(j);
	buf_reset(&out);
	assert_int_equal(xlate_error_text(FMT_OPENAI, 401, "", 0, &out), RE_OK);
	j = xlate_parse(out.data, out.len);
	assert_non_null(j);
	e = json_object_object_get(j, "error");
	assert_string_equal(json_object_get_string(
				    json_object_object_get(e, "message")),
			    "upstream returned HTTP 401");
	json_object_put(j);
	buf_free(&out);
}

/* A full output buffer is an error, not a cut event. */
static void test_stream_out_full(void **state)
{
	static const char ev[] =
		"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"content\":\"hello\"},\"finish_reason\":null}]}\n\n";
	struct xsse x;
	struct buf out;

	(void)state;
	buf_init(&out, 64);
	xsse_init(&x, FMT_OPENAI, NULL, NULL);
	assert_int_equal(xsse_feed(&x, ev, sizeof ev - 1, &out), RE_ETOOBIG);
	xsse_free(&x);
	buf_free(&out);
}

/* Notes: repeated ones are logged once; a full note ends in "...". */
static void test_note(void **state)
{
	struct xlate_note n;
	int i;

	(void)state;
	memset(&n, 0, sizeof n);
	xlate_note_add(&n, "dropped %s", "top_k");
	xlate_note_add(&n, "dropped %s", "top_k");
	assert_string_equal(n.text, "dropped top_k");
	for (i = 0; i < 100; i++)
		xlate_note_add(&n, "dropped field_%d", i);
	assert_true(strlen(n.text) < sizeof n.text);
	assert_string_equal(n.text + strlen(n.text) - 3, "...");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct gcase *)a)->dir,
		      ((const struct gcase *)b)->dir);
}

int main(void)
{
	const char *root = getenv("XLATE_GOLDEN");
	static struct gcase cases[MAX_CASES];
	struct CMUnitTest tests[MAX_CASES + 8];
	struct dirent *de;
	DIR *d;
	int n = 0, t = 0, i;

	if (!root)
		root = "tests/golden/xlate";
	d = opendir(root);
	if (!d) {
		fprintf(stderr, "test_xlate: cannot open %s\n", root);
		return 1;
	}
	while ((de = readdir(d)) && n < MAX_CASES) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(cases[n].dir, sizeof cases[n].dir, "%s/%s", root,
			 de->d_name);
		n++;
	}
	closedir(d);
	qsort(cases, (size_t)n, sizeof cases[0], by_name);
	for (i = 0; i < n; i++) {
		struct CMUnitTest u = { cases[i].dir + strlen(root) + 1,
					test_golden, NULL, NULL, &cases[i] };

		tests[t++] = u;
	}
	{
		struct CMUnitTest extra[] = {
			cmocka_unit_test(test_wanted),
			cmocka_unit_test(test_error_not_json),
			cmocka_unit_test(test_stream_out_full),
			cmocka_unit_test(test_note),
		};

		for (i = 0; i < (int)(sizeof extra / sizeof extra[0]); i++)
			tests[t++] = extra[i];
	}
	return _cmocka_run_group_tests("xlate", tests, (size_t)t, NULL, NULL);
}
