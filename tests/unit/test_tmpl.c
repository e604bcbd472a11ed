/* test_tmpl.c - unit tests for the @@key@@ template engine.
 *
 * Every template is copied so that its last byte sits right before a
 * PROT_NONE page, with no NUL after it (after picohttpparser's tests):
 * tmpl_render must respect `len`, and reading one byte too far crashes the
 * test instead of passing by luck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include "guard.h"
#include "tmpl.h"

#define guarded(s, n) guarded_n((s), (n))

static const struct tmpl_var vars[] = {
	{ "name", "World", TMPL_HTML },
	{ "a", "A", TMPL_HTML },
	{ "b", "B", TMPL_HTML },
	{ "evil", "<script>alert(1)</script>", TMPL_HTML },
	{ "attr", "\"><img src=x onerror=alert(1)>", TMPL_HTML },
	{ "five", "&<>\"'", TMPL_HTML },
	{ "raw", "<b>bold</b>", TMPL_RAW },
	{ "js", "</script>'\"\\", TMPL_JS_STRING },
	{ "null", NULL, TMPL_HTML },
	{ "dup", "first", TMPL_HTML },
	{ "dup", "second", TMPL_HTML },
	{ "x.y-z_0", "dotted", TMPL_HTML },
	{ NULL, "ignored", TMPL_HTML },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Renders t (without its NUL) from a guarded copy; checks the result is
 * `want` and the unknown count `unk`. */
static void check(const char *t, const char *want, size_t unk)
{
	struct buf out;
	size_t unknown = 999;
	size_t n = strlen(t);

	buf_init(&out, 1 << 20);
	assert_int_equal(tmpl_render(guarded(t, n), n, vars, NVARS, &out,
				     &unknown), RE_OK);
	assert_string_equal(buf_cstr(&out), want);
	assert_int_equal(out.len, strlen(want));
	assert_int_equal(unknown, unk);
	buf_free(&out);
}

static void test_placeholders(void **state)
{
	(void)state;
	check("Hello @@name@@!", "Hello World!", 0);
	check("@@name@@", "World", 0);
	check("no placeholders at all", "no placeholders at all", 0);
	check("@@a@@ and @@a@@ again", "A and A again", 0);
	check("@@x.y-z_0@@", "dotted", 0);
	/* the first variable of a name wins, NULL value is empty */
	check("[@@dup@@][@@null@@]", "[first][]", 0);
	/* UTF-8 text around placeholders passes unchanged */
	check("你好,@@name@@。", "你好,World。", 0);
}

static void test_escape_five(void **state)
{
	struct buf out;

	(void)state;
	check("@@five@@", "&amp;&lt;&gt;&quot;&#39;", 0);
	check("<p title=\"@@five@@\">", "<p title=\"&amp;&lt;&gt;&quot;&#39;\">", 0);
	/* direct, with NUL and UTF-8 inside, and nothing to escape */
	buf_init(&out, 100);
	assert_int_equal(tmpl_escape_html("a\0<\xe4\xbd\xa0", 6, &out), RE_OK);
	assert_int_equal(out.len, 9);
	assert_memory_equal(out.data, "a\0&lt;\xe4\xbd\xa0", 9);
	buf_reset(&out);
	assert_int_equal(tmpl_escape_html("plain", 5, &out), RE_OK);
	assert_string_equal(buf_cstr(&out), "plain");
	buf_reset(&out);
	assert_int_equal(tmpl_escape_html("", 0, &out), RE_OK);
	assert_string_equal(buf_cstr(&out), "");
	buf_free(&out);
}

static void test_malicious(void **state)
{
	(void)state;
	check("<p>@@evil@@</p>",
	      "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", 0);
	check("<img alt=\"@@attr@@\">",
	      "<img alt=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\">", 0);
	check("<img alt='@@attr@@'>",
	      "<img alt='&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'>", 0);
	/* a value that looks like a placeholder is not expanded again */
	{
		static const struct tmpl_var v[] = {
			{ "p", "@@name@@", TMPL_HTML },
			{ "name", "World", TMPL_HTML },
		};
		struct buf out;
		size_t unk;

		buf_init(&out, 100);
		assert_int_equal(tmpl_render(guarded("@@p@@", 5), 5, v, 2, &out, &unk),
				 RE_OK);
		assert_string_equal(buf_cstr(&out), "@@name@@");
		assert_int_equal(unk, 0);
		buf_free(&out);
	}
}

static void test_raw_and_js(void **state)
{
	struct buf out;

	(void)state;
	check("<p>@@raw@@</p>", "<p><b>bold</b></p>", 0);
	check("var s = '@@js@@';",
	      "var s = '\\u003C\\u002Fscript\\u003E\\u0027\\u0022\\u005C';", 0);
	buf_init(&out, 100);
	/* controls, DEL, backtick, U+2028/9; other UTF-8 passes */
	assert_int_equal(tmpl_escape_js("\n\x01\x7f`\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xa6&",
					14, &out), RE_OK);
	assert_string_equal(buf_cstr(&out),
		"\\u000A\\u0001\\u007F\\u0060\\u2028\\u2029\xe2\x80\xa6\\u0026");
	buf_reset(&out);
	/* a truncated U+2028 at the end is not read past n */
	assert_int_equal(tmpl_escape_js(guarded("a\xe2\x80", 3), 3, &out), RE_OK);
	assert_string_equal(buf_cstr(&out), "a\xe2\x80");
	buf_free(&out);
}

static void test_unknown(void **state)
{
	struct buf out;

	(void)state;
	check("a@@nope@@b", "ab", 1);
	check("@@nope@@@@nada@@@@name@@", "World", 2);
	check("@@Name@@", "", 1);           /* names are case-sensitive */
	/* the count is optional */
	buf_init(&out, 100);
	assert_int_equal(tmpl_render(guarded("@@zz@@", 6), 6, vars, NVARS, &out,
				     NULL), RE_OK);
	assert_string_equal(buf_cstr(&out), "");
	/* no variables at all */
	assert_int_equal(tmpl_render(guarded("x@@a@@y", 7), 7, NULL, 0, &out,
				     NULL), RE_OK);
	assert_string_equal(buf_cstr(&out), "xy");
	buf_free(&out);
}

static void test_adjacent(void **state)
{
	(void)state;
	check("@@a@@@@b@@", "AB", 0);
	check("@@a@@@@b@@@@a@@", "ABA", 0);
	check("@@a@@@@", "A@@", 0);
	check("@@a@@@", "A@", 0);
	check("(@@a@@)(@@b@@)", "(A)(B)", 0);
	/* one '@' of a run may open a placeholder: "@" + "@@a@@" */
	check("@@@a@@", "@A", 0);
	check("@@@@a@@", "@@A", 0);
}

static void test_literal_at(void **state)
{
	char name[TMPL_NAME_MAX + 2];
	char t[sizeof(name) + 8];

	(void)state;
	/* "@@" not followed by name@@ is literal, also at the very end */
	check("@", "@", 0);
	check("@@", "@@", 0);
	check("@@@", "@@@", 0);
	check("@@@@", "@@@@", 0);
	check("x@@", "x@@", 0);
	check("x@", "x@", 0);
	check("@@a", "@@a", 0);
	check("@@a@", "@@a@", 0);
	check("a@@b", "a@@b", 0);
	check("@@ a@@", "@@ a@@", 0);
	check("@@a b@@", "@@a b@@", 0);
	check("@@<a>@@", "@@<a>@@", 0);
	check("user@example.com", "user@example.com", 0);
	check("@@a\n@@", "@@a\n@@", 0);
	/* names of exactly TMPL_NAME_MAX characters are placeholders, longer
	 * ones are text */
	memset(name, 'n', sizeof(name));
	name[TMPL_NAME_MAX] = '\0';
	snprintf(t, sizeof(t), "@@%s@@", name);
	check(t, "", 1);
	name[TMPL_NAME_MAX] = 'n';
	name[TMPL_NAME_MAX + 1] = '\0';
	snprintf(t, sizeof(t), "@@%s@@", name);
	check(t, t, 0);
}

static void test_len_respected(void **state)
{
	struct buf out;
	size_t unk;

	(void)state;
	buf_init(&out, 100);
	/* the placeholder is cut by len: what is inside len is literal */
	assert_int_equal(tmpl_render(guarded("@@a@", 4), 4, vars, NVARS, &out, &unk),
			 RE_OK);
	assert_string_equal(buf_cstr(&out), "@@a@");
	buf_reset(&out);
	/* NUL bytes in the template are ordinary text */
	assert_int_equal(tmpl_render(guarded("x\0@@a@@\0", 8), 8, vars, NVARS,
				     &out, &unk), RE_OK);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "x\0A\0", 4);
	buf_free(&out);
}

static void test_empty(void **state)
{
	struct buf out;
	size_t unk = 7;

	(void)state;
	buf_init(&out, 100);
	assert_int_equal(tmpl_render(guarded("", 0), 0, vars, NVARS, &out, &unk),
			 RE_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(unk, 0);
	assert_string_equal(buf_cstr(&out), "");
	assert_int_equal(tmpl_render(NULL, 0, vars, NVARS, &out, &unk), RE_OK);
	assert_int_equal(out.len, 0);
	/* rendering appends to what out already holds */
	assert_int_equal(buf_puts(&out, "pre:"), RE_OK);
	assert_int_equal(tmpl_render(guarded("@@a@@", 5), 5, vars, NVARS, &out,
				     &unk), RE_OK);
	assert_string_equal(buf_cstr(&out), "pre:A");
	buf_free(&out);
}

static void test_cap(void **state)
{
	struct buf out;
	size_t unk;

	(void)state;
	/* exactly at the cap is fine */
	buf_init(&out, 11);
	assert_int_equal(tmpl_render(guarded("Hi @@name@@!!!", 14), 14, vars,
				     NVARS, &out, &unk), RE_OK);
	assert_string_equal(buf_cstr(&out), "Hi World!!!");
	buf_free(&out);
	/* one more byte of literal text */
	buf_init(&out, 10);
	assert_int_equal(tmpl_render(guarded("Hi @@name@@!!!", 14), 14, vars,
				     NVARS, &out, &unk), RE_ETOOBIG);
	assert_true(out.len <= 10);
	buf_free(&out);
	/* a value that fits exactly, then text that does not */
	buf_init(&out, 5);
	assert_int_equal(tmpl_render(guarded("@@name@@!", 9), 9, vars, NVARS,
				     &out, &unk), RE_ETOOBIG);
	assert_string_equal(buf_cstr(&out), "World");
	buf_free(&out);
	/* a value that does not fit */
	buf_init(&out, 4);
	assert_int_equal(tmpl_render(guarded("@@name@@", 8), 8, vars, NVARS,
				     &out, &unk), RE_ETOOBIG);
	assert_true(out.len <= 4);
	buf_free(&out);
	/* inside an entity: "&lt;" never half-written past the cap */
	buf_init(&out, 6);
	assert_int_equal(tmpl_render(guarded("@@evil@@", 8), 8, vars, NVARS,
				     &out, &unk), RE_ETOOBIG);
	assert_true(out.len <= 6);
	assert_null(strstr(buf_cstr(&out), "<"));
	buf_free(&out);
	/* a zero cap */
	buf_init(&out, 0);
	assert_int_equal(tmpl_render(guarded("x", 1), 1, vars, NVARS, &out,
				     &unk), RE_ETOOBIG);
	assert_int_equal(out.len, 0);
	assert_int_equal(tmpl_render(guarded("", 0), 0, vars, NVARS, &out,
				     &unk), RE_OK);
	buf_free(&out);
	/* the JS escaper too */
	buf_init(&out, 7);
	assert_int_equal(tmpl_escape_js("a<", 2, &out), RE_OK);
	assert_int_equal(tmpl_escape_js("b", 1, &out), RE_ETOOBIG);
	buf_free(&out);
}

static void test_compiled_in(void **state)
{
	size_t i, found = 0;

	(void)state;
	for (i = 0; i < tmpl_file_count; i++) {
		assert_non_null(tmpl_files[i].name);
		assert_int_equal(tmpl_files[i].data[tmpl_files[i].len], 0);
		if (strcmp(tmpl_files[i].name, "docs.html") == 0) {
			found = 1;
			assert_true(tmpl_files[i].len > 1000);
			assert_memory_equal(tmpl_files[i].data, "<!DOCTYPE html>", 15);
		}
	}
	assert_true(found);
	assert_null(tmpl_files[tmpl_file_count].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_escape_five),
		cmocka_unit_test(test_malicious),
		cmocka_unit_test(test_raw_and_js),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_adjacent),
		cmocka_unit_test(test_literal_at),
		cmocka_unit_test(test_len_respected),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_compiled_in),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
