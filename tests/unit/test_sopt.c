/* test_sopt.c - unit tests for the include_usage splice (sopt.c).
 *
 * Bodies are copied to end right at a PROT_NONE page (guard.h) so a read
 * past their length crashes instead of passing by luck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "guard.h"
#include "sopt.h"

/* Splices a guarded copy of `in`; checks the result kind and, for
 * SOPT_ADDED, the exact output text. */
static void expect(const char *in, enum sopt_result want, const char *out)
{
	struct buf b;
	enum sopt_result r;

	buf_init(&b, 1 << 20);
	r = sopt_splice(guarded_n(in, strlen(in)), strlen(in), &b);
	assert_int_equal(r, want);
	if (want == SOPT_ADDED)
		assert_string_equal(buf_cstr(&b), out);
	else
		assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_added_when_absent(void **state)
{
	(void)state;
	expect("{\"model\":\"m\",\"stream\":true}", SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true},\"model\":\"m\",\"stream\":true}");
	expect("  { \"a\" : 1 } ", SOPT_ADDED,
	       "  {\"stream_options\":{\"include_usage\":true}, \"a\" : 1 } ");
	expect("{}", SOPT_ADDED, "{\"stream_options\":{\"include_usage\":true}}");
}

static void test_inside_existing(void **state)
{
	(void)state;
	expect("{\"stream_options\":{},\"a\":1}", SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true},\"a\":1}");
	expect("{\"stream_options\":{\"x\":[1,{\"y\":\"}\"}]}}", SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true,\"x\":[1,{\"y\":\"}\"}]}}");
	expect("{\"stream_options\":{\"include_usage\":false}}", SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true}}");
	expect("{\"stream_options\":null,\"b\":\"\\\"q\"}", SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true},\"b\":\"\\\"q\"}");
	/* duplicate keys: json-c keeps the last, so the last is edited */
	expect("{\"stream_options\":{\"include_usage\":true},\"stream_options\":{\"include_usage\":false}}",
	       SOPT_ADDED,
	       "{\"stream_options\":{\"include_usage\":true},\"stream_options\":{\"include_usage\":true}}");
}

static void test_asked_or_unsure(void **state)
{
	(void)state;
	expect("{\"stream_options\":{\"include_usage\":true}}", SOPT_ASKED, NULL);
	expect("[1,2]", SOPT_UNSURE, NULL);
	expect("{\"a\":", SOPT_UNSURE, NULL);
	expect("{} x", SOPT_UNSURE, NULL);
}

/* issue 25 point 3: keys are compared as json-c decodes them, and a body
 * the scanner cannot follow is written anew, never sent hiding usage. */
static void test_escaped_keys(void **state)
{
	(void)state;
	expect("{\"stream\\u005foptions\":{}}", SOPT_ADDED,
	       "{\"stream\\u005foptions\":{\"include_usage\":true}}");
	expect("{\"stream_\\u006fptions\":{\"include_usage\":false},\"a\":1}", SOPT_ADDED,
	       "{\"stream_\\u006fptions\":{\"include_usage\":true},\"a\":1}");
	expect("{\"stream_options\":{\"include\\u005fusage\":false}}", SOPT_ADDED,
	       "{\"stream_options\":{\"include\\u005fusage\":true}}");
	/* json-c ends a key at a NUL: this is stream_options to it */
	expect("{\"stream_options\\u0000x\":{\"include_usage\":false}}", SOPT_ADDED,
	       "{\"stream_options\\u0000x\":{\"include_usage\":true}}");
	expect("{\"stream_options\":{\"include_usage\":true}}", SOPT_ASKED, NULL);
	expect("{\"stream_options\":{\"include_\\u0075sage\":true}}", SOPT_ASKED, NULL);
	/* JSON only to json-c's lenient mode: written anew */
	expect("{/* c */\"a\":1,\"stream_options\":{\"include_usage\":false}}", SOPT_ADDED,
	       "{\"a\":1,\"stream_options\":{\"include_usage\":true}}");
	/* json-c 0.16's strict mode takes single quotes: spliced */
	expect("{'a':1}", SOPT_ADDED, "{\"stream_options\":{\"include_usage\":true},'a':1}");
}

static void test_usage_only(void **state)
{
	const char *u = "{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}";
	const char *n = "{\"choices\":[{\"delta\":{}}],\"usage\":null}";
	const char *e = "{\"choices\":[],\"usage\":null}";

	(void)state;
	assert_int_equal(sopt_usage_only(guarded_n(u, strlen(u)), strlen(u)), 1);
	assert_int_equal(sopt_usage_only(guarded_n(n, strlen(n)), strlen(n)), 0);
	assert_int_equal(sopt_usage_only(guarded_n(e, strlen(e)), strlen(e)), 0);
	assert_int_equal(sopt_usage_only("[DONE]", 6), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_added_when_absent),
		cmocka_unit_test(test_inside_existing),
		cmocka_unit_test(test_asked_or_unsure),
		cmocka_unit_test(test_escaped_keys),
		cmocka_unit_test(test_usage_only),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
