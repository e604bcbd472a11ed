/* test_retry.c - unit tests for the busy-upstream retry rules: reading
 * Retry-After (up_retry_after) and the delay before the next try of a
 * queued item (queue_busy_delay). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "guard.h"
#include "queue.h"
#include "up.h"

static int ra(const char *s)
{
	/* guarded: a read past the value's NUL crashes the test */
	return up_retry_after(guarded_n(s, strlen(s) + 1));
}

static void test_retry_after_seconds(void **state)
{
	(void)state;
	assert_int_equal(ra("0"), 0);
	assert_int_equal(ra("7"), 7);
	assert_int_equal(ra("120"), 120);
	assert_int_equal(ra(" 3 "), 3);          /* curl may leave blanks */
	assert_int_equal(ra("86400"), 86400);
	assert_int_equal(ra("86401"), 86400);      /* capped at a day */
	assert_int_equal(ra("99999999999999999999999"), 86400);  /* no overflow */
}

static void test_retry_after_refused(void **state)
{
	(void)state;
	assert_int_equal(up_retry_after(NULL), -1);
	assert_int_equal(ra(""), -1);
	assert_int_equal(ra(" "), -1);
	assert_int_equal(ra("-1"), -1);
	assert_int_equal(ra("1.5"), -1);
	assert_int_equal(ra("5s"), -1);
	assert_int_equal(ra("Wed, 32 Foo 2015 junk"), -1);
}

static void test_retry_after_http_date(void **state)
{
	char d[64];
	time_t t = time(NULL) + 120;
	struct tm tm;
	int v;

	(void)state;
	assert_int_equal(ra("Wed, 21 Oct 2015 07:28:00 GMT"), 0);   /* past */
	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	v = ra(d);
	assert_true(v >= 110 && v <= 120);
	t = time(NULL) + 10 * 86400;
	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(ra(d), 86400);
}

static void test_busy_delay(void **state)
{
	(void)state;
	/* no Retry-After: 1, 2, 4, 8, 16 s ... capped */
	assert_int_equal(queue_busy_delay(0, -1), 1);
	assert_int_equal(queue_busy_delay(1, -1), 2);
	assert_int_equal(queue_busy_delay(4, -1), 16);
	assert_int_equal(queue_busy_delay(8, -1), 256);
	assert_int_equal(queue_busy_delay(9, -1), QUEUE_BUSY_MAX_DELAY);
	assert_int_equal(queue_busy_delay(1000, -1), QUEUE_BUSY_MAX_DELAY);
	assert_int_equal(queue_busy_delay(-3, -1), QUEUE_BUSY_MAX_DELAY);
	/* the upstream's Retry-After wins, within 1 .. QUEUE_BUSY_MAX_DELAY */
	assert_int_equal(queue_busy_delay(0, 30), 30);
	assert_int_equal(queue_busy_delay(4, 2), 2);
	assert_int_equal(queue_busy_delay(0, 0), 1);
	assert_int_equal(queue_busy_delay(0, 86400), QUEUE_BUSY_MAX_DELAY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_refused),
		cmocka_unit_test(test_retry_after_http_date),
		cmocka_unit_test(test_busy_delay),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
