/* test_sha256.c - unit tests for sha256.c (FIPS 180-4 / NIST vectors,
 * padding edges, ct_equal) and secret.c (random key format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "secret.h"
#include "sha256.h"

/* Checks sha256_hex(data, len) against the expected hex digest, and that
 * sha256() gives the same bytes. */
static void check(const void *data, size_t len, const char *want)
{
	char hex[65];
	unsigned char raw[32];
	size_t i;

	memset(hex, 'x', sizeof(hex));
	sha256_hex(data, len, hex);
	assert_string_equal(hex, want);
	sha256(data, len, raw);
	for (i = 0; i < 32; i++) {
		unsigned int b;

		assert_int_equal(sscanf(want + 2 * i, "%2x", &b), 1);
		assert_int_equal(raw[i], b);
	}
}

static void test_nist_vectors(void **state)
{
	static const char m448[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] =
		"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char *million;

	(void)state;
	check("", 0,
	      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check(NULL, 0,
	      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3,
	      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check(m448, sizeof(m448) - 1,
	      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check(m896, sizeof(m896) - 1,
	      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	check(million, 1000000,
	      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

/* Lengths around the padding boundaries (55/56/63/64 bytes), checked
 * against digests from coreutils' sha256sum. */
static void test_padding_edges(void **state)
{
	char a[129];

	(void)state;
	memset(a, 'a', sizeof(a));
	check(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	check(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	check(a, 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
	check(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
	check(a, 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0");
	check(a, 128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e");
	check(a, 129, "c12cb024a2e5551cca0e08fce8f1c5e314555cc3fef6329ee994a3db752166ae");
	/* bytes above 0x7f and NULs are hashed as bytes */
	check("\x00\xff", 2,
	      "06eb7d6a69ee19e5fbdf749018d3d2abfa04bcbd1365db312eb86dc7169389b8");
}

static void test_ct_equal(void **state)
{
	unsigned char a[64], b[64];
	size_t i;

	(void)state;
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(ct_equal(a, b, sizeof(a)), 1);
	assert_int_equal(ct_equal(a, b, 0), 1);
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_int_equal(ct_equal(a, b, sizeof(a)), 0);
		b[i] ^= 0x81;
		assert_int_equal(ct_equal(a, b, sizeof(a)), 0);
		b[i] ^= 0x80;
		assert_int_equal(ct_equal(a, b, sizeof(a)), 1);
	}
	assert_int_equal(ct_equal("sk-abc", "sk-abd", 6), 0);
	assert_int_equal(ct_equal("sk-abc", "sk-abd", 5), 1);
}

/* 1 if every character after "sk-" is in [0-9A-Za-z]. */
static int key_ok(const char *k)
{
	size_t i;

	if (strlen(k) != SECRET_KEY_LEN || strncmp(k, "sk-", 3) != 0)
		return 0;
	for (i = 3; k[i]; i++)
		if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= 'a' && k[i] <= 'z')))
			return 0;
	return 1;
}

static void test_random_key(void **state)
{
	char k1[SECRET_KEY_LEN + 1], k2[64], tiny[SECRET_KEY_LEN];
	unsigned seen[128];
	size_t i, j, distinct = 0;

	(void)state;
	assert_int_equal(SECRET_KEY_LEN, 46);
	assert_int_equal(secret_random_key(k1, sizeof(k1)), 0);
	assert_true(key_ok(k1));
	assert_int_equal(secret_random_key(k2, sizeof(k2)), 0);
	assert_true(key_ok(k2));
	assert_string_not_equal(k1, k2);
	/* too small a buffer: -1 and an empty string */
	memset(tiny, 'x', sizeof(tiny));
	assert_int_equal(secret_random_key(tiny, sizeof(tiny)), -1);
	assert_int_equal(tiny[0], '\0');
	assert_int_equal(secret_random_key(NULL, 0), -1);
	/* over 200 keys (8600 characters) all 62 symbols turn up, and only
	 * those */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 200; i++) {
		assert_int_equal(secret_random_key(k1, sizeof(k1)), 0);
		assert_true(key_ok(k1));
		for (j = 3; j < SECRET_KEY_LEN; j++)
			seen[(unsigned char)k1[j] & 127]++;
	}
	for (i = 0; i < 128; i++)
		distinct += seen[i] != 0;
	assert_int_equal(distinct, 62);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nist_vectors),
		cmocka_unit_test(test_padding_edges),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_random_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
