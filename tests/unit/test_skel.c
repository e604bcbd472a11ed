/* test_skel.c - unit tests for skel_name (issue 25.12: look-alike names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "skel.h"

/* 1 when a and b have the same skeleton. */
static int same(const char *a, const char *b)
{
	char x[256], y[256];

	assert_int_equal(skel_name(a, x, sizeof(x)), 0);
	assert_int_equal(skel_name(b, y, sizeof(y)), 0);
	return strcmp(x, y) == 0;
}

static void test_lookalikes(void **state)
{
	(void)state;
	assert_true(same("admin", "Admin"));
	assert_true(same("admin", "ADMIN"));
	assert_true(same("admin", "\xd0\xb0" "dmin"));               /* Cyrillic a */
	assert_true(same("admin", "\xd0\x90" "DMIN"));               /* Cyrillic A */
	assert_true(same("root-admin", "r\xd0\xbe\xd0\xbe" "t-admin"));   /* Cyrillic o */
	assert_true(same("root-admin", "r00t-admin"));
	assert_true(same("alice", "a1ice"));
	assert_true(same("paul", "\xcf\x81" "aul"));                 /* Greek rho */
	assert_true(same("nick", "\xce\x9d" "ick"));                 /* Greek capital Nu */
	assert_true(same("admin", "ad\xe2\x80\x8bmin"));             /* zero-width space */
	assert_true(same("admin", "a\xcc\x81" "dmin"));              /* combining acute */
	assert_true(same("admin", "\xef\xbd\x81" "dmin"));           /* fullwidth a */
	assert_true(same("admin", "\xef\xbc\xa1" "dmin"));           /* fullwidth A */
	assert_true(same("\xc3\x89" "lise", "\xc3\xa9" "lise"));     /* E-acute folds */
	assert_true(same("\xe5\xbc\xa0\xe4\xb8\x89", "\xe5\xbc\xa0\xe4\xb8\x89"));
}

static void test_distinct(void **state)
{
	(void)state;
	assert_false(same("admin", "admins"));
	assert_false(same("bob", "rob"));
	assert_false(same("user2", "user3"));
	assert_false(same("\xe5\xbc\xa0\xe4\xb8\x89", "\xe6\x9d\x8e\xe5\x9b\x9b"));
}

static void test_bad_input(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(skel_name("\xc0\xaf", out, sizeof(out)), -1);       /* overlong */
	assert_int_equal(skel_name("\xed\xa0\x80", out, sizeof(out)), -1);   /* surrogate */
	assert_int_equal(skel_name("\xe5\xbc", out, sizeof(out)), -1);       /* cut */
	assert_int_equal(skel_name("\xff", out, sizeof(out)), -1);
	assert_int_equal(skel_name("abcdefgh", out, sizeof(out)), -1);       /* too long */
	assert_int_equal(skel_name("abcdefg", out, sizeof(out)), 0);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(skel_name("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(skel_name("a", out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookalikes),
		cmocka_unit_test(test_distinct),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
