/* test_qs.c - unit tests for qs_get.
 *
 * Every query string is copied so that its terminating NUL is the last byte
 * before a PROT_NONE page (after picohttpparser's tests): reading one byte
 * past the string crashes the test instead of passing by luck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "guard.h"
#include "qs.h"

/* Copies s with its NUL so that it ends right at the guard page. */
static const char *guarded(const char *s)
{
	return guarded_n(s, strlen(s) + 1);
}

/* qs_get on a guarded copy of qs with a 64-byte output buffer. */
static int get(const char *qs, const char *key, char *out)
{
	return qs_get(guarded(qs), key, out, 64);
}

static void test_basic(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(get("a=1&b=2", "a", out), 1);
	assert_string_equal(out, "1");
	assert_int_equal(get("a=1&b=2", "b", out), 1);
	assert_string_equal(out, "2");
	assert_int_equal(get("a=1&b=2", "c", out), -1);
	assert_int_equal(get("queue_id=12345", "queue_id", out), 5);
	assert_string_equal(out, "12345");
	/* the first occurrence wins */
	assert_int_equal(get("x=1&x=2", "x", out), 1);
	assert_string_equal(out, "1");
	/* keys are compared exactly: no prefixes, no case folding */
	assert_int_equal(get("ab=1&a=2", "a", out), 1);
	assert_string_equal(out, "2");
	assert_int_equal(get("a=1", "ab", out), -1);
	assert_int_equal(get("A=1", "a", out), -1);
	/* NULL and empty query strings */
	assert_int_equal(qs_get(NULL, "a", out, sizeof(out)), -1);
	assert_int_equal(get("", "a", out), -1);
}

static void test_empty_values(void **state)
{
	char out[64];

	(void)state;
	memset(out, 'z', sizeof(out));
	assert_int_equal(get("a&b=2", "a", out), 0);
	assert_string_equal(out, "");
	assert_int_equal(get("b=2&a", "a", out), 0);
	assert_int_equal(get("a=&b=2", "a", out), 0);
	assert_int_equal(get("a=", "a", out), 0);
	/* empty segments are skipped */
	assert_int_equal(get("&&a=1&&", "a", out), 1);
	assert_string_equal(out, "1");
	assert_int_equal(get("&", "a", out), -1);
	/* only the first '=' splits */
	assert_int_equal(get("a=b=c", "a", out), 3);
	assert_string_equal(out, "b=c");
	/* an empty key matches "=v" */
	assert_int_equal(get("=v&a=1", "", out), 1);
	assert_string_equal(out, "v");
}

static void test_decoding(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(get("q=a+b%20c", "q", out), 5);
	assert_string_equal(out, "a b c");
	assert_int_equal(get("q=%e4%B8%AD", "q", out), 3);
	assert_string_equal(out, "\xe4\xb8\xad");
	assert_int_equal(get("q=%26%3D%2B", "q", out), 3);
	assert_string_equal(out, "&=+");
	/* keys are decoded before the compare */
	assert_int_equal(get("my+key=1&my%5Fid=2", "my key", out), 1);
	assert_string_equal(out, "1");
	assert_int_equal(get("my+key=1&my%5Fid=2", "my_id", out), 1);
	assert_string_equal(out, "2");
	/* a key that is encoded differently still matches */
	assert_int_equal(get("%71=7", "q", out), 1);
	assert_string_equal(out, "7");
}

static void test_bad_escapes(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(get("q=%", "q", out), -2);
	assert_string_equal(out, "");
	assert_int_equal(get("q=%4", "q", out), -2);
	assert_int_equal(get("q=%zz", "q", out), -2);
	assert_int_equal(get("q=%4g", "q", out), -2);
	assert_int_equal(get("q=%&r=1", "q", out), -2);
	assert_int_equal(get("q=a%00b", "q", out), -2);
	/* a bad escape elsewhere does not matter */
	assert_int_equal(get("x=%zz&q=1", "q", out), 1);
	/* keys with bad escapes or %00 match nothing */
	assert_int_equal(get("%zz=1&q=2", "q", out), 1);
	assert_string_equal(out, "2");
	assert_int_equal(get("q%00=1", "q", out), -1);
	assert_int_equal(get("q%=1", "q", out), -1);
	assert_int_equal(get("q%", "q", out), -1);
}

static void test_sizes(void **state)
{
	char out[8];

	(void)state;
	/* 7 bytes + NUL fit in 8 */
	assert_int_equal(qs_get(guarded("v=1234567"), "v", out, sizeof(out)), 7);
	assert_string_equal(out, "1234567");
	assert_int_equal(qs_get(guarded("v=12345678"), "v", out, sizeof(out)), -2);
	assert_string_equal(out, "");
	/* decoded length counts, not encoded */
	assert_int_equal(qs_get(guarded("v=%41%42%43%44%45%46%47"), "v", out,
				sizeof(out)), 7);
	assert_string_equal(out, "ABCDEFG");
	/* even an empty value needs room for the NUL */
	assert_int_equal(qs_get(guarded("v="), "v", out, 1), 0);
	assert_int_equal(qs_get(guarded("v="), "v", NULL, 0), -2);
	assert_int_equal(qs_get(guarded("v=1"), "w", NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
