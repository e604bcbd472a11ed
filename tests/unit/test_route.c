/* test_route.c - the SDK route table, path handling, error bodies,
 * header filter, allow-list and token estimate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "buf.h"
#include "hdrpass.h"
#include "allow.h"
#include "route.h"
#include "tokest.h"
#include "v1err.h"

static enum route_rc m(const char *method, const char *path, const struct route **r)
{
	return route_match(method, path, strlen(path), r);
}

static void test_match(void **state)
{
	const struct route *r;

	(void)state;
	assert_int_equal(m("POST", "/v1/chat/completions", &r), ROUTE_FOUND);
	assert_int_equal(r->id, ROUTE_CHAT);
	assert_int_equal(m("POST", "/v1/messages/", &r), ROUTE_FOUND);
	assert_int_equal(r->fmt, FMT_ANTHROPIC);
	assert_int_equal(m("GET", "/v1/messages", &r), ROUTE_BAD_METHOD);
	assert_int_equal(m("POST", "/v1/nope", &r), ROUTE_NOT_FOUND);
	assert_null(r);
	assert_int_equal(m("HEAD", "/", &r), ROUTE_FOUND);
	assert_int_equal(r->id, ROUTE_HEAD);
	assert_int_equal(m("GET", "/v1/models", &r), ROUTE_FOUND);
	/* issue 26: GET /v1/models/{id}, ids may hold '/' */
	assert_int_equal(m("GET", "/v1/models/qwen/qwen3-max", &r), ROUTE_FOUND);
	assert_int_equal(r->id, ROUTE_MODEL);
	assert_int_equal(m("GET", "/v1/models/", &r), ROUTE_FOUND);
	assert_int_equal(r->id, ROUTE_MODELS);
	assert_int_equal(m("DELETE", "/v1/models/x", &r), ROUTE_BAD_METHOD);
	assert_int_equal(route_guess_fmt("/v1/messages/x", 14, 0), FMT_ANTHROPIC);
	assert_int_equal(route_guess_fmt("/v1/x", 5, 0), FMT_OPENAI);
}

static void test_rel_path(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(route_rel_path("/api/call.php/v1/messages?beta=true", NULL, NULL,
					out, sizeof(out)), 12);
	assert_string_equal(out, "/v1/messages");
	assert_int_equal(route_rel_path("/api/call.php", NULL, NULL, out, sizeof(out)), 0);
	route_rel_path(NULL, "/x/call.php", "/v1/models", out, sizeof(out));
	assert_string_equal(out, "/v1/models");
	assert_int_equal(route_rel_path("/v1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
					NULL, NULL, out, sizeof(out)), (size_t)-1);
}

static void test_errors(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(v1err_json(&b, FMT_OPENAI, 401, NULL, "no", NULL), RE_OK);
	assert_string_equal(buf_cstr(&b),
		"{\"error\":{\"message\":\"no\",\"type\":\"authentication_error\",\"param\":null,\"code\":null}}");
	buf_reset(&b);
	v1err_json(&b, FMT_ANTHROPIC, 529, NULL, "busy", NULL);
	assert_string_equal(buf_cstr(&b),
		"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}");
	buf_reset(&b);
	v1err_sse(&b, FMT_ANTHROPIC, 500, NULL, "x");
	assert_non_null(strstr(buf_cstr(&b), "event: error\ndata: {"));
	assert_string_equal(v1err_type(FMT_ANTHROPIC, 413), "request_too_large");
	assert_int_equal(v1err_busy_status(FMT_OPENAI), 503);
	buf_free(&b);
}

static void test_hdrpass(void **state)
{
	char out[256];
	size_t len = 0;

	(void)state;
	out[0] = '\0';
	assert_int_equal(hdrpass_add(out, sizeof(out), &len, "Retry-After: 5\r\n", 16), 1);
	assert_int_equal(hdrpass_add(out, sizeof(out), &len, "Set-Cookie: a=b\r\n", 17), 0);
	assert_int_equal(hdrpass_add(out, sizeof(out), &len, "x-request-id: a\rb\r\n", 19), 0);
	assert_int_equal(hdrpass_add(out, sizeof(out), &len,
				     "X-RateLimit-Remaining-Requests: 9\r\n", 35), 1);
	assert_string_equal(out, "retry-after: 5\r\nx-ratelimit-remaining-requests: 9\r\n");
	hdrpass_copy(out + 128, 128, "retry-after: 5\r\nx-ratelimit-remaining-requests: 9\r\n", 1);
	assert_string_equal(out + 128, "retry-after: 5\r\n");
}

static void test_allow_and_estimate(void **state)
{
	(void)state;
	assert_true(allow_model("", 0, "x"));
	assert_true(allow_model("a, b ,c", 1, "b"));
	assert_false(allow_model("a,b", 1, "ab"));
	assert_false(allow_model("", 1, "a"));
	assert_true(allow_model("*", 1, "a"));
	assert_int_equal(tokest_text("abcd", 4), 1);
	assert_int_equal(tokest_text("你好", 6), 2);
	assert_int_equal(tokest_count("[1]", 3), -1);
	assert_true(tokest_count("{\"model\":\"m\",\"messages\":[{\"content\":\"hello there\"}]}", 52) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_rel_path),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hdrpass),
		cmocka_unit_test(test_allow_and_estimate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
