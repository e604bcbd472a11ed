/* test_jkeys.c - unit tests for the json-c-compatible key scanner
 * (jkeys.c): escapes decoded, keys cut at NUL, duplicates of the relay's
 * deciding keys found. Inputs end at a guard page (guard.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "buf.h"
#include "guard.h"
#include "jkeys.h"

static const char *dup_of(const char *s)
{
	return jkeys_dup(guarded_n(s, strlen(s)), strlen(s));
}

static void expect_dup(const char *s, const char *want)
{
	const char *got = dup_of(s);

	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static void test_string_decoding(void **state)
{
	char k[JKEYS_NAME_MAX + 1];
	size_t n;
	const char *s;

	(void)state;
	s = "\"mod\\u0065l\"";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n),
			 strlen(s));
	assert_string_equal(k, "model");
	s = "\"a\\n\\\"\\\\\\/\\ud83d\\ude00\"";
	assert_int_not_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	assert_string_equal(k, "a\n\"\\/\xf0\x9f\x98\x80");
	/* cut at a NUL as json-c cuts keys */
	s = "\"model\\u0000x\"";
	assert_int_not_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	assert_string_equal(k, "model");
	/* malformed: unterminated, bad escape, short \u, raw control byte */
	s = "\"abc";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	s = "\"a\\x\"";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	s = "\"a\\u12\"";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	s = "\"a\\";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
	s = "\"a\tb\"";
	assert_int_equal(jkeys_string(guarded_n(s, strlen(s)), strlen(s), 0, k, sizeof(k), &n), 0);
}

static void test_key_is(void **state)
{
	const char *s = "\"stream_\\u006fptions\"";

	(void)state;
	assert_true(jkeys_key_is(guarded_n(s, strlen(s)), strlen(s), 0, "stream_options"));
	assert_false(jkeys_key_is(guarded_n(s, strlen(s)), strlen(s), 0, "stream"));
	s = "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"";
	assert_false(jkeys_key_is(guarded_n(s, strlen(s)), strlen(s), 0, "x"));
}

static void test_dup(void **state)
{
	(void)state;
	expect_dup("{\"model\":\"a\",\"stream\":true}", NULL);
	expect_dup("{\"model\":\"a\",\"model\":\"b\"}", "model");
	expect_dup("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", "model");
	expect_dup("{\"model\":\"a\",\"model\\u0000z\":\"b\"}", "model");
	expect_dup(" {\"stream\":false, \"x\":{\"stream\":1}, \"stream\" : true} ", "stream");
	expect_dup("{\"stream_options\":{},\"stream_\\u006fptions\":{}}", "stream_options");
	expect_dup("{\"stream_options\":{\"include_usage\":true,\"include\\u005fusage\":false}}",
		   "stream_options.include_usage");
	expect_dup("{\"stream_options\":{\"include_usage\":true},\"include_usage\":1}", NULL);
	expect_dup("{\"previous_response_id\":\"a\",\"previous_response_id\":\"b\"}",
		   "previous_response_id");
	expect_dup("{\"background\":false,\"background\":true}", "background");
	/* nested objects and other keys may repeat */
	expect_dup("{\"messages\":[{\"model\":1,\"model\":2}],\"a\":1,\"a\":2}", NULL);
	/* not followed: json-c decides */
	expect_dup("[1]", NULL);
	expect_dup("{\"model\":", NULL);
	expect_dup("", NULL);
	expect_dup("{}", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_decoding),
		cmocka_unit_test(test_key_is),
		cmocka_unit_test(test_dup),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
