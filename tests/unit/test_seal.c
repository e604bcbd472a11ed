/* test_seal.c - unit tests for sealed upstream keys (seal.c): round trip,
 * tampering, the wrong key, and the master key file's checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "seal.h"

static void test_round_trip_and_tamper(void **state)
{
	unsigned char k[SEAL_KEY_LEN], k2[SEAL_KEY_LEN], box[200];
	char out[100];
	long n;

	(void)state;
	memset(k, 7, sizeof(k));
	memset(k2, 8, sizeof(k2));
	n = seal_close(k, "sk-secret-1234", 14, box, sizeof(box));
	assert_int_equal(n, 14 + SEAL_OVERHEAD);
	assert_null(memmem(box, (size_t)n, "secret", 6));
	assert_int_equal(seal_open(k, box, (size_t)n, out, sizeof(out)), 14);
	assert_string_equal(out, "sk-secret-1234");
	assert_int_equal(seal_open(k2, box, (size_t)n, out, sizeof(out)), -1);
	box[20] ^= 1;
	assert_int_equal(seal_open(k, box, (size_t)n, out, sizeof(out)), -1);
	box[20] ^= 1;
	assert_int_equal(seal_open(k, box, (size_t)n - 1, out, sizeof(out)), -1);
	assert_int_equal(seal_open(k, box, 5, out, sizeof(out)), -1);
	assert_int_equal(seal_open(k, box, (size_t)n, out, 10), -1);    /* does not fit */
	assert_int_equal(seal_close(k, "x", 1, box, 10), -1);             /* no room */
}

static void test_key_file(void **state)
{
	char dir[] = "/tmp/test-seal-XXXXXX", path[300], err[200];
	unsigned char k[SEAL_KEY_LEN];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/master.key", dir);
	assert_int_equal(seal_load_key(path, k, err, sizeof(err)), -1);   /* missing */
	assert_int_equal(seal_new_key_file(path, err, sizeof(err)), 0);
	assert_int_equal(seal_new_key_file(path, err, sizeof(err)), -1);  /* never overwrites */
	assert_int_equal(seal_load_key(path, k, err, sizeof(err)), 0);
	chmod(path, 0640);
	assert_int_equal(seal_load_key(path, k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group or others"));
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not hex at all\n", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(seal_load_key(path, k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64 hex"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_tamper),
		cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
