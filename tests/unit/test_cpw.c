/* test_cpw.c - unit tests for console passwords (crypt_r, yescrypt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cpw.h"

static void test_hash_verify(void **state)
{
	char h1[CPW_HASH_MAX], h2[CPW_HASH_MAX];

	(void)state;
	assert_int_equal(cpw_hash("correct horse", h1, sizeof(h1)), 0);
	/* yescrypt, with its own random salt every time */
	assert_true(strncmp(h1, "$y$", 3) == 0);
	assert_int_equal(cpw_hash("correct horse", h2, sizeof(h2)), 0);
	assert_string_not_equal(h1, h2);
	assert_null(strstr(h1, "correct"));
	assert_int_equal(cpw_verify("correct horse", h1), 1);
	assert_int_equal(cpw_verify("correct horse", h2), 1);
	assert_int_equal(cpw_verify("correct hors", h1), 0);
	assert_int_equal(cpw_verify("correct horse ", h1), 0);
	assert_int_equal(cpw_verify("Correct horse", h1), 0);
	assert_int_equal(cpw_verify("", h1), 0);
	assert_int_equal(cpw_verify(NULL, h1), 0);
	/* UTF-8 passwords work */
	assert_int_equal(cpw_hash("密码很长很长", h1, sizeof(h1)), 0);
	assert_int_equal(cpw_verify("密码很长很长", h1), 1);
	assert_int_equal(cpw_verify("密码很长很短", h1), 0);
}

static void test_lengths(void **state)
{
	char h[CPW_HASH_MAX], pw[CPW_MAX + 2];

	(void)state;
	/* too short, too long, NULL, no room: -1 and out = "" */
	memset(h, 'z', sizeof(h));
	assert_int_equal(cpw_hash("1234567", h, sizeof(h)), -1);
	assert_string_equal(h, "");
	assert_int_equal(cpw_hash(NULL, h, sizeof(h)), -1);
	assert_int_equal(cpw_hash("12345678", h, 16), -1);
	assert_int_equal(cpw_hash("12345678", h, sizeof(h)), 0);
	memset(pw, 'p', CPW_MAX);
	pw[CPW_MAX] = '\0';
	assert_int_equal(cpw_hash(pw, h, sizeof(h)), 0);
	assert_int_equal(cpw_verify(pw, h), 1);
	pw[CPW_MAX] = 'p';
	pw[CPW_MAX + 1] = '\0';
	assert_int_equal(cpw_hash(pw, h, sizeof(h)), -1);
	assert_int_equal(cpw_verify(pw, h), 0);
}

static void test_stored_hashes(void **state)
{
	(void)state;
	/* no hash (NULL), garbage, a disabled '*' or '!' entry: never a match */
	assert_int_equal(cpw_verify("anything1", NULL), 0);
	assert_int_equal(cpw_verify("anything1", ""), 0);
	assert_int_equal(cpw_verify("anything1", "*"), 0);
	assert_int_equal(cpw_verify("anything1", "!$y$j9T$abc"), 0);
	assert_int_equal(cpw_verify("anything1", "$y$broken"), 0);
	/* other crypt(3) schemes an operator imports still verify: sha512crypt
	 * of "password1" with salt "saltsalt" (openssl passwd -6) */
	assert_int_equal(cpw_verify("password1",
		"$6$saltsalt$rGHbrrsOT1WLTt4dcfZKq1FiG//1B7ZAMkD.MeAC8/d9MOtB5EzYEffFnBarQhF6"
		"MiLywY/KggaYjrNNrzAnj/"), 1);
	assert_int_equal(cpw_verify("password2",
		"$6$saltsalt$rGHbrrsOT1WLTt4dcfZKq1FiG//1B7ZAMkD.MeAC8/d9MOtB5EzYEffFnBarQhF6"
		"MiLywY/KggaYjrNNrzAnj/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_stored_hashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
