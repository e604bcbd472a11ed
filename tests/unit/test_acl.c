/* test_acl.c - unit tests for the /metrics allow-list (acl_check,
 * acl_match) and the Prometheus label escaping (metrics_label). Inputs sit
 * right before a guard page (guard.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "guard.h"
#include "acl.h"
#include "buf.h"
#include "metrics.h"

static const char *g(const char *s)
{
	return guarded_n(s, strlen(s) + 1);
}

/* acl_match with the address guarded (the list is a literal). */
static int m(const char *list, const char *addr)
{
	return acl_match(list, g(addr));
}

static void test_match_v4(void **state)
{
	(void)state;
	assert_int_equal(m("127.0.0.1, ::1", "127.0.0.1"), 1);
	assert_int_equal(m("127.0.0.1, ::1", "127.0.0.2"), 0);
	assert_int_equal(m("10.0.0.0/8", "10.255.1.2"), 1);
	assert_int_equal(m("10.0.0.0/8", "11.0.0.1"), 0);
	assert_int_equal(m("192.168.1.128/25", "192.168.1.200"), 1);
	assert_int_equal(m("192.168.1.128/25", "192.168.1.127"), 0);
	assert_int_equal(m("0.0.0.0/0", "8.8.8.8"), 1);
	assert_int_equal(m("1.2.3.4/32", "1.2.3.4"), 1);
	/* a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d */
	assert_int_equal(m("10.0.0.0/8", "::ffff:10.1.2.3"), 1);
	assert_int_equal(m("10.0.0.0/8", "::ffff:11.1.2.3"), 0);
	/* separators: commas and/or blanks */
	assert_int_equal(m(" 1.1.1.1 ,\t2.2.2.2  3.3.3.3", "3.3.3.3"), 1);
}

static void test_match_v6(void **state)
{
	(void)state;
	assert_int_equal(m("::1", "::1"), 1);
	assert_int_equal(m("::1", "::2"), 0);
	assert_int_equal(m("fd00::/8", "fd12:3456::1"), 1);
	assert_int_equal(m("fd00::/8", "fe80::1"), 0);
	assert_int_equal(m("2001:db8::/33", "2001:db8:7fff::1"), 1);
	assert_int_equal(m("2001:db8::/33", "2001:db8:8000::1"), 0);
	assert_int_equal(m("fe80::/10", "fe80::1%eth0"), 1);   /* zone index ignored */
	/* an IPv4 client never matches an IPv6-only entry by accident */
	assert_int_equal(m("fd00::/8", "10.0.0.1"), 0);
	assert_int_equal(m("::/0", "10.0.0.1"), 1);
}

static void test_no_match_on_bad_input(void **state)
{
	(void)state;
	assert_int_equal(m("", "127.0.0.1"), 0);
	assert_int_equal(acl_match(NULL, "127.0.0.1"), 0);
	assert_int_equal(acl_match("127.0.0.1", NULL), 0);
	assert_int_equal(m("127.0.0.1", ""), 0);
	assert_int_equal(m("127.0.0.1", "localhost"), 0);
	assert_int_equal(m("127.0.0.1", "127.0.0.1 "), 0);
	/* a bad entry never matches, the good ones still do */
	assert_int_equal(m("bogus, 127.0.0.1", "127.0.0.1"), 1);
	assert_int_equal(m("127.0.0.1/33", "127.0.0.1"), 0);
}

static void test_check(void **state)
{
	int bad = 0;

	(void)state;
	assert_int_equal(acl_check(g(""), NULL), 0);
	assert_int_equal(acl_check(g("127.0.0.1, ::1, 10.0.0.0/8 fd00::/8"), NULL), 0);
	assert_int_equal(acl_check(g("127.0.0.1, 10.0.0.0/33"), &bad), -1);
	assert_int_equal(bad, 2);
	assert_int_equal(acl_check(g("::/129"), &bad), -1);
	assert_int_equal(acl_check(g("1.2.3.4/"), &bad), -1);
	assert_int_equal(acl_check(g("1.2.3.4/-1"), &bad), -1);
	assert_int_equal(acl_check(g("1.2.3.4/0008"), &bad), -1);
	assert_int_equal(acl_check(g("/8"), &bad), -1);
	assert_int_equal(acl_check(g("example.com"), &bad), -1);
	assert_int_equal(acl_check(g("1.2.3.4;5.6.7.8"), &bad), -1);
	/* an entry longer than any address */
	assert_int_equal(acl_check(g("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc/64"),
				   &bad), -1);
}

static void test_label_escaping(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(metrics_label(&b, g("plain-model_1.5")), 0);
	assert_string_equal(buf_cstr(&b), "plain-model_1.5");
	buf_reset(&b);
	assert_int_equal(metrics_label(&b, g("a\"b\\c\nd")), 0);
	assert_string_equal(buf_cstr(&b), "a\\\"b\\\\c\\nd");
	buf_reset(&b);
	assert_int_equal(metrics_label(&b, g("模型")), 0);
	assert_string_equal(buf_cstr(&b), "模型");
	buf_reset(&b);
	assert_int_equal(metrics_label(&b, NULL), 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
	/* the cap holds */
	buf_init(&b, 4);
	assert_int_not_equal(metrics_label(&b, g("\\\\\\")), 0);
	assert_true(b.len <= 4);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_v4),
		cmocka_unit_test(test_match_v6),
		cmocka_unit_test(test_no_match_on_bad_input),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_label_escaping),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
