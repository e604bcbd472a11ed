/* test_csvg.c - unit tests for the inline SVG bar charts (csvg_bars). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "csvg.h"

/* The number of non-overlapping occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The height="..." of the k-th <rect class="a"> (0-based), or -1. */
static long rect_height(const char *svg, int k, const char *cls)
{
	char pat[32];
	const char *p = svg;
	long h = -1;

	snprintf(pat, sizeof(pat), "<rect class=\"%s\"", cls);
	for (int i = 0; i <= k; i++) {
		p = strstr(p, pat);
		if (!p)
			return -1;
		p += strlen(pat);
	}
	p = strstr(p, "height=\"");
	if (p)
		sscanf(p + 8, "%ld", &h);
	return h;
}

static void test_basic(void **state)
{
	const struct csvg_bar bars[] = {
		{ "11-30", 0, 0 }, { "12-01", 5, 1 }, { "12-02", 10, 0 },
	};
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(csvg_bars(&b, "每日请求", "请求", "错误", bars, 3), RE_OK);
	const char *s = buf_cstr(&b);
	assert_true(strncmp(s, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\"",
			    strlen("<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\"")) == 0);
	assert_true(strcmp(s + strlen(s) - 6, "</svg>") == 0);
	assert_int_equal(count(s, "<g class=\"bar\">"), 3);
	assert_int_equal(count(s, "<rect class=\"a\""), 3);
	/* b bars only where b > 0 */
	assert_int_equal(count(s, "<rect class=\"b\""), 1);
	/* the y axis shows the maximum; heights scale to it (plot 166 high) */
	assert_non_null(strstr(s, ">10</text>"));
	assert_int_equal(rect_height(s, 0, "a"), 0);
	assert_int_equal(rect_height(s, 1, "a"), 83);
	assert_int_equal(rect_height(s, 2, "a"), 166);
	assert_int_equal(rect_height(s, 0, "b"), 16);
	/* tooltips: "label: a name, b name" */
	assert_non_null(strstr(s, "<title>12-01: 5 请求, 1 错误</title>"));
	assert_non_null(strstr(s, "<title>每日请求</title>"));
	assert_non_null(strstr(s, "aria-label=\"每日请求\""));
	/* no script, no external reference, no event handler */
	assert_null(strstr(s, "<script"));
	assert_null(strstr(s, "href"));
	assert_null(strstr(s, " on"));
	buf_free(&b);
}

static void test_escaping(void **state)
{
	const struct csvg_bar bars[] = { { "<script>x</script>", 1, 0 } };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(csvg_bars(&b, "\"><img src=x onerror=alert(1)>", "a&b", NULL, bars, 1),
			 RE_OK);
	const char *s = buf_cstr(&b);
	assert_null(strstr(s, "<script>"));
	assert_null(strstr(s, "<img"));
	assert_non_null(strstr(s, "&lt;script&gt;x&lt;/script&gt;"));
	assert_non_null(strstr(s, "aria-label=\"&quot;&gt;&lt;img"));
	assert_non_null(strstr(s, "1 a&amp;b</title>"));
	buf_free(&b);
}

static void test_edges(void **state)
{
	struct csvg_bar many[401];
	struct buf b;

	(void)state;
	memset(many, 0, sizeof(many));
	buf_init(&b, 1 << 20);
	/* no bars, all zero, negatives: a valid empty chart, nothing divided by 0 */
	assert_int_equal(csvg_bars(&b, "t", "a", NULL, NULL, 0), RE_OK);
	assert_int_equal(count(buf_cstr(&b), "<g class=\"bar\">"), 0);
	assert_true(strstr(buf_cstr(&b), "</svg>") != NULL);
	buf_reset(&b);
	many[0].a = -5;
	many[1].label = NULL;
	assert_int_equal(csvg_bars(&b, NULL, "a", NULL, many, 2), RE_OK);
	assert_int_equal(rect_height(buf_cstr(&b), 0, "a"), 0);
	buf_reset(&b);
	/* 400 bars fit, 401 are refused; huge values do not overflow */
	for (int i = 0; i < 400; i++) {
		many[i].label = "d";
		many[i].a = i == 399 ? 9000000000000000LL : i;
	}
	assert_int_equal(csvg_bars(&b, "t", "a", NULL, many, 400), RE_OK);
	assert_int_equal(count(buf_cstr(&b), "<g class=\"bar\">"), 400);
	assert_int_equal(rect_height(buf_cstr(&b), 399, "a"), 166);
	/* at most ~10 x labels however many bars */
	assert_true(count(buf_cstr(&b), "text-anchor=\"middle\"") <= 12);
	buf_reset(&b);
	assert_int_equal(csvg_bars(&b, "t", "a", NULL, many, 401), RE_EINVAL);
	buf_free(&b);
	/* a buffer too small fails cleanly */
	buf_init(&b, 64);
	assert_int_not_equal(csvg_bars(&b, "t", "a", NULL, many, 10), RE_OK);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
