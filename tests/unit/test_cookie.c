/* test_cookie.c - unit tests for cookie_get and cookie_set_line.
 *
 * Every Cookie header is placed so that its NUL is the last byte before a
 * PROT_NONE page (guard.h): a read past the header crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "guard.h"
#include "cookie.h"

/* cookie_get on a guarded copy of h with a 65-byte output buffer. */
static int get(const char *h, const char *name, char *out)
{
	return cookie_get(guarded_n(h, strlen(h) + 1), name, out, 65);
}

static void test_lookup(void **state)
{
	char out[65];

	(void)state;
	assert_int_equal(get("relay_session=abc", "relay_session", out), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(get("a=1; relay_session=xyz; b=2", "relay_session", out), 3);
	assert_string_equal(out, "xyz");
	assert_int_equal(get("a=1;b=2", "b", out), 1);
	assert_string_equal(out, "2");
	/* the first of two wins; names are exact and case-sensitive */
	assert_int_equal(get("s=1; s=2", "s", out), 1);
	assert_string_equal(out, "1");
	assert_int_equal(get("xs=1; s=2", "s", out), 1);
	assert_string_equal(out, "2");
	assert_int_equal(get("S=1", "s", out), -1);
	assert_int_equal(get("s1=1", "s", out), -1);
	/* a name that only appears as a value, or without '=' */
	assert_int_equal(get("a=s", "s", out), -1);
	assert_int_equal(get("s; t=1", "s", out), -1);
	/* absent, empty, NULL */
	assert_int_equal(get("", "s", out), -1);
	assert_int_equal(get(";;  ;", "s", out), -1);
	assert_int_equal(cookie_get(NULL, "s", out, sizeof(out)), -1);
	assert_int_equal(cookie_get("s=1", NULL, out, sizeof(out)), -1);
}

static void test_values(void **state)
{
	char out[65];

	(void)state;
	/* empty value; surrounding blanks; double quotes removed */
	assert_int_equal(get("s=", "s", out), 0);
	assert_string_equal(out, "");
	assert_int_equal(get("  s=v  ;t=1", "s", out), 1);
	assert_string_equal(out, "v");
	assert_int_equal(get("\ts=v\t", "s", out), 1);
	assert_int_equal(get("s=\"quoted\"", "s", out), 6);
	assert_string_equal(out, "quoted");
	/* a value at the very end of the header (guard page right after) */
	assert_int_equal(get("a=1; s=last", "s", out), 4);
	assert_string_equal(out, "last");
	/* '=' inside a value is part of it */
	assert_int_equal(get("s=a=b", "s", out), 3);
	assert_string_equal(out, "a=b");
}

static void test_refused(void **state)
{
	char out[65], small[4];

	(void)state;
	/* bytes outside cookie-octet: out is emptied, -2 */
	memset(out, 'z', sizeof(out));
	assert_int_equal(get("s=a b", "s", out), -2);
	assert_string_equal(out, "");
	assert_int_equal(get("s=a,b", "s", out), -2);
	assert_int_equal(get("s=a\\b", "s", out), -2);
	assert_int_equal(get("s=a\"b", "s", out), -2);
	assert_int_equal(get("s=\x01", "s", out), -2);
	assert_int_equal(get("s=\xc3\xa9", "s", out), -2);
	assert_int_equal(get("s=\x7f", "s", out), -2);
	/* too long for the buffer (it needs room for the NUL) */
	assert_int_equal(cookie_get(guarded_n("s=abcd", 7), "s", small, sizeof(small)), -2);
	assert_string_equal(small, "");
	assert_int_equal(cookie_get(guarded_n("s=abc", 6), "s", small, sizeof(small)), 3);
	assert_string_equal(small, "abc");
	assert_int_equal(cookie_get(guarded_n("s=a", 4), "s", NULL, 0), -2);
	{
		char big[200];
		memset(big, 'a', sizeof(big));
		memcpy(big, "s=", 2);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(get(big, "s", out), -2);   /* 197 > 64 */
	}
}

static void test_set_line(void **state)
{
	char line[256], tiny[40];

	(void)state;
	assert_int_equal(cookie_set_line(line, sizeof(line), "relay_session", "ab12", 3600, 0), 0);
	assert_string_equal(line, "Set-Cookie: relay_session=ab12; Path=/; HttpOnly;"
			    " SameSite=Strict; Max-Age=3600\r\n");
	assert_int_equal(cookie_set_line(line, sizeof(line), "s", "v", 60, 1), 0);
	assert_string_equal(line, "Set-Cookie: s=v; Path=/; HttpOnly; SameSite=Strict;"
			    " Max-Age=60; Secure\r\n");
	/* deletion: empty value, Max-Age=0 */
	assert_int_equal(cookie_set_line(line, sizeof(line), "s", "", 0, 0), 0);
	assert_non_null(strstr(line, "s=; ") );
	assert_non_null(strstr(line, "Max-Age=0\r\n"));
	/* a name or value that could inject an attribute or a header is refused */
	assert_int_equal(cookie_set_line(line, sizeof(line), "s", "a;Domain=x", 1, 0), -1);
	assert_int_equal(cookie_set_line(line, sizeof(line), "s", "a\r\nX: y", 1, 0), -1);
	assert_int_equal(cookie_set_line(line, sizeof(line), "s=t", "v", 1, 0), -1);
	assert_int_equal(cookie_set_line(line, sizeof(line), "", "v", 1, 0), -1);
	assert_int_equal(cookie_set_line(line, sizeof(line), "s", "v", -1, 0), -1);
	/* does not fit: -1, never a cut line */
	assert_int_equal(cookie_set_line(tiny, sizeof(tiny), "relay_session", "v", 1, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_set_line),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
