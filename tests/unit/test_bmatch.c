/* test_bmatch.c - unit tests for the pool's string work (bmatch.c): globs,
 * model lists, the mapping and the model splice (inputs against a guard
 * page, guard.h), and the backend of a slot lock name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "guard.h"
#include "bmatch.h"

static int g(const char *pat, const char *s)
{
	return bmatch_glob(guarded_n(pat, strlen(pat)), strlen(pat), s);
}

static void test_glob(void **state)
{
	(void)state;
	assert_int_equal(g("claude-*", "claude-sonnet-4-5"), 1);
	assert_int_equal(g("claude-*", "claude-"), 1);
	assert_int_equal(g("claude-*", "claud"), 0);
	assert_int_equal(g("*", ""), 1);
	assert_int_equal(g("", ""), 1);
	assert_int_equal(g("", "x"), 0);
	assert_int_equal(g("gpt-4o", "gpt-4o"), 1);
	assert_int_equal(g("gpt-4o", "gpt-4o-mini"), 0);
	assert_int_equal(g("*-mini", "gpt-4o-mini"), 1);
	assert_int_equal(g("a*b*c", "axxbyyc"), 1);
	assert_int_equal(g("a*b*c", "axxbyy"), 0);
	assert_int_equal(g("**x", "abx"), 1);
	assert_int_equal(g("MiniMax_M2", "MiniMax-M2"), 0);   /* no LIKE wildcards */
	assert_int_equal(g("Mini%", "MiniMax"), 0);
}

static void test_list_and_map(void **state)
{
	char t[64];

	(void)state;
	assert_int_equal(bmatch_list("a, b ,claude-*", 0, "b", NULL, 0), 1);
	assert_int_equal(bmatch_list("a, b ,claude-*", 0, "claude-3", NULL, 0), 1);
	assert_int_equal(bmatch_list("a, b ,claude-*", 0, "c", NULL, 0), 0);
	assert_int_equal(bmatch_list("", 0, "a", NULL, 0), 0);
	assert_int_equal(bmatch_list(",,", 0, "", NULL, 0), 0);
	assert_int_equal(bmatch_list("a", 0, "a", t, sizeof(t)), 1);  /* no target */
	/* ordered: the first matching pattern wins */
	assert_int_equal(bmatch_list("claude-haiku*=fast, claude-*=MiniMax-M2.7", 1,
				     "claude-haiku-3", t, sizeof(t)), 1);
	assert_string_equal(t, "fast");
	assert_int_equal(bmatch_list("claude-haiku*=fast, claude-*= MiniMax-M2.7 ", 1,
				     "claude-opus", t, sizeof(t)), 1);
	assert_string_equal(t, "MiniMax-M2.7");
	assert_int_equal(bmatch_list("claude-*", 1, "claude-opus", t, sizeof(t)), 0);
	assert_int_equal(bmatch_list("x=y", 1, "z", t, sizeof(t)), 0);
}

static void splice(const char *in, const char *model, int want, const char *out)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(bmatch_splice_model(guarded_n(in, strlen(in)), strlen(in), model, &b),
			 want);
	if (want == 0)
		assert_string_equal(buf_cstr(&b), out);
	buf_free(&b);
}

static void test_splice(void **state)
{
	(void)state;
	splice("{\"model\":\"claude-3\",\"x\":1}", "MiniMax-M2.7", 0,
	       "{\"model\":\"MiniMax-M2.7\",\"x\":1}");
	/* spacing, nested "model" keys and strings that look like it stay */
	splice(" { \"a\":{\"model\":\"in\"}, \"model\" :\t\"c\" , \"s\":\"\\\"model\\\":\\\"c\\\"\"}",
	       "T", 0,
	       " { \"a\":{\"model\":\"in\"}, \"model\" :\t\"T\" , \"s\":\"\\\"model\\\":\\\"c\\\"\"}");
	/* the target is JSON-escaped */
	splice("{\"model\":\"m\"}", "a\"b/c", 0, "{\"model\":\"a\\\"b/c\"}");
	/* duplicates: json-c keeps the last, so does the splice */
	splice("{\"model\":\"a\",\"model\":\"b\"}", "T", 0, "{\"model\":\"a\",\"model\":\"T\"}");
	splice("{\"model\":5}", "T", -1, NULL);
	/* an escaped key is the key json-c read (jkeys.h) */
	splice("{\"mo\\u0064el\":\"x\"}", "T", 0, "{\"mo\\u0064el\":\"T\"}");
	splice("[\"model\"]", "T", -1, NULL);
	splice("{\"model\":\"x\"", "T", -1, NULL);
	splice("", "T", -1, NULL);
}

static void test_lock_backend(void **state)
{
	(void)state;
	assert_int_equal(bmatch_lock_backend("p", "p:slot:3"), 0);
	assert_int_equal(bmatch_lock_backend("p", "p:slot:12:3"), 12);
	assert_int_equal(bmatch_lock_backend("p", "q:slot:12:3"), 0);
	assert_int_equal(bmatch_lock_backend("p", NULL), 0);
	assert_int_equal(bmatch_lock_backend("p:x", "p:x:slot:7:1"), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_list_and_map),
		cmocka_unit_test(test_splice),
		cmocka_unit_test(test_lock_backend),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
