/* test_imp.c - unit tests for imp_parse and the key rules of imp.h (the
 * reader of relayctl import and the console's import). Every file is
 * placed right before a PROT_NONE page without a NUL: reading one byte
 * past its length crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "guard.h"
#include "imp.h"

/* Parses text (no NUL after it); returns the problem count, errs kept. */
static int parse(const char *text, struct imp *im, struct buf *errs)
{
	buf_init(errs, 1 << 20);
	return imp_parse(guarded_n(text, strlen(text)), strlen(text), im, errs);
}

static void test_csv(void **state)
{
	struct imp im;
	struct buf errs;

	(void)state;
	assert_int_equal(parse("\xef\xbb\xbfname, key ,daily_requests,models,expires,enabled\r\n"
			       "carol,old-key-12345678,0,,,\r\n"
			       "# comment\n\n"
			       "dave,\"with, comma \"\"q\"\"-and more\",7,\"a, b,a\",2099-12-31,0\n"
			       "erin,,,*,,", &im, &errs), 0);
	assert_int_equal(im.n, 3);
	assert_string_equal(im.rows[0].name, "carol");
	assert_string_equal(im.rows[0].key, "old-key-12345678");
	assert_int_equal(im.rows[0].line, 2);
	assert_int_equal(im.rows[0].num[IMP_REQUESTS], 0);
	assert_true(im.rows[0].has & (1u << IMP_REQUESTS));
	assert_false(im.rows[0].has_models);
	assert_string_equal(im.rows[1].key, "with, comma \"q\"-and more");
	assert_int_equal(im.rows[1].line, 5);
	assert_string_equal(im.rows[1].models, "a,b");
	assert_string_equal(im.rows[1].expires, "2099-12-31");
	assert_int_equal(im.rows[1].num[IMP_ENABLED], 0);
	assert_null(im.rows[2].key);
	assert_true(im.rows[2].has_models);
	assert_string_equal(im.rows[2].models, "");
	assert_int_equal(strlen(im.rows[0].hex), 64);
	imp_free(&im);
	buf_free(&errs);
}

static void test_jsonl(void **state)
{
	struct imp im;
	struct buf errs;

	(void)state;
	assert_int_equal(parse("{\"name\":\"a\",\"key\":\"0123456789abcdef\",\"models\":[\"m1\",\"m2\"],"
			       "\"enabled\":true,\"priority\":\"-3\",\"expires\":null}\n"
			       "  {\"name\":\"b\",\"models\":[]}", &im, &errs), 0);
	assert_int_equal(im.n, 2);
	assert_string_equal(im.rows[0].models, "m1,m2");
	assert_int_equal(im.rows[0].num[IMP_ENABLED], 1);
	assert_int_equal(im.rows[0].num[IMP_PRIORITY], -3);
	assert_string_equal(im.rows[0].expires, "");
	assert_true(im.rows[1].has_models);
	assert_string_equal(im.rows[1].models, "");
	imp_free(&im);
	buf_free(&errs);
}

/* Each bad file: refused, with a message naming its line, never the key. */
static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "\n \n", "name,key\n", "key\nx,0123456789abcdef\n",
		"name,name\nx,y\n", "name,colour\nx,red\n",
		"name,key\nx,0123456789abcdef\ny,0123456789abcdef\n",
		"name,key\nx,\"0123456789abcdef\n", "name,key\nx,short\n",
		"name,key\nx,0123456789abcdef,extra\n", "name,daily_requests\nx,-1\n",
		"name,daily_requests\nx,4294967296\n", "name,priority\nx,1e3\n",
		"name,expires\nx,2026-02-30\n", "name,models\nx,bad model!\n",
		"name\nhas space\n", "{\"name\":\"x\"} trailing\n", "{\"key\":\"0123456789abcdef\"}\n",
		"{\"name\":\"x\",\"models\":{\"a\":1}}\n", "{\"name\":\"x\",\"key\":\"0123456789abcdef\"}\n"
		"{\"name\":\"y\",\"key\":\"0123456789abcdef\"}\n",
		"name,key\nx, leading-space-123456\n",
	};
	struct imp im;
	struct buf errs;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = parse(bad[i], &im, &errs);

		if (n <= 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(errs.len > 0);
		assert_null(strstr(buf_cstr(&errs), "0123456789abcdef"));
		imp_free(&im);
		buf_free(&errs);
	}
}

static void test_key_rules(void **state)
{
	char p[13], k[300];

	(void)state;
	assert_true(imp_key_ok("0123456789abcdef"));
	assert_false(imp_key_ok("0123456789abcde"));
	assert_true(imp_key_ok("with inner space ok"));
	assert_false(imp_key_ok(" with leading space"));
	assert_false(imp_key_ok("trailing space ok "));
	assert_false(imp_key_ok("tab\tinside-0123456789"));
	assert_false(imp_key_ok("\xc3\xa9t\xc3\xa9-0123456789abc"));
	memset(k, 'k', 256);
	k[256] = '\0';
	assert_true(imp_key_ok(k));
	k[256] = 'k';
	k[257] = '\0';
	assert_false(imp_key_ok(k));
	imp_prefix("0123456789abcdef", p);              /* a quarter of 16 */
	assert_string_equal(p, "0123");
	imp_prefix(k, p);                                /* at most 12 */
	assert_string_equal(p, "kkkkkkkkkkkk");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_key_rules),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
