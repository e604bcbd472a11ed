/* test_bkadmin.c - unit tests for backend specs (bkadmin.c's bk_check):
 * presets fill format, URL and key header; bad input gets a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "bkadmin.h"

static void test_presets(void **state)
{
	struct bk_spec s;
	char err[300];

	(void)state;
	bk_spec_init(&s, "mm");
	s.preset = "MiniMax";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	assert_string_equal(s.format, "openai");
	assert_string_equal(s.url, "https://api.minimax.io/v1");
	assert_string_equal(s.auth, "bearer");
	bk_spec_init(&s, "mm-a");
	s.preset = "minimax";
	s.format = "anthropic";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	assert_string_equal(s.url, "https://api.minimax.io/anthropic");
	assert_string_equal(s.auth, "x-api-key");
	bk_spec_init(&s, "claude");
	s.preset = "anthropic";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	assert_string_equal(s.format, "anthropic");
	assert_string_equal(s.url, "https://api.anthropic.com");
	/* a preset without that format's endpoint needs --url */
	bk_spec_init(&s, "g");
	s.preset = "groq";
	s.format = "anthropic";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--url"));
	bk_spec_init(&s, "local");
	s.preset = "openai-compatible";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	s.url = "http://10.0.0.5:8000/v1";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	assert_non_null(bk_preset_find("dashscope"));
	assert_null(bk_preset_find("nosuch"));
}

static void test_refusals(void **state)
{
	struct bk_spec s;
	char err[300];

	(void)state;
	bk_spec_init(&s, "default");
	s.preset = "openai";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	bk_spec_init(&s, "has space");
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	bk_spec_init(&s, "x");
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);   /* no format */
	bk_spec_init(&s, "x");
	s.format = "openai";
	s.url = "http://h/v1\"";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	bk_spec_init(&s, "x");
	s.preset = "openai";
	s.key = "sk-with space";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	bk_spec_init(&s, "x");
	s.preset = "openai";
	s.map = "claude-*=MiniMax-M2.7,x=y*";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);   /* '*' in a target */
	s.map = "claude-*=MiniMax-M2.7,claude-3=fast";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	s.models = "a,b*,c=d";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	s.models = "";
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), 0);
	s.slots = 0;
	assert_int_equal(bk_check(&s, 1, err, sizeof(err)), -1);
	/* set: nothing is required, given values are still checked */
	bk_spec_init(&s, "x");
	s.weight = 5;
	s.priority = 0;
	assert_int_equal(bk_check(&s, 0, err, sizeof(err)), 0);
	s.priority = 1001;
	assert_int_equal(bk_check(&s, 0, err, sizeof(err)), -1);
	s.priority = 10;
	assert_int_equal(bk_check(&s, 0, err, sizeof(err)), 0);
	s.auth = "basic";
	assert_int_equal(bk_check(&s, 0, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
