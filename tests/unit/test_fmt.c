/* test_fmt.c - unit tests for request validation and format detection
 * (fmt.c).
 *
 * Bodies are handed over as exactly sized heap copies (see parse()), so a
 * read past the body's length is caught by ASan/valgrind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "fmt.h"

static const char msg_bad_json[] = "请求体不是有效的JSON";

/* Runs fmt_parse_request on n bytes of s (via an exact heap copy). On
 * success the parsed object is returned through *out and the caller puts
 * it; on failure *out is checked to be NULL and *why to be set. */
static int parse_n(const char *s, size_t n, struct json_object **out,
		   const char **why)
{
	char *c = malloc(n ? n : 1);
	int rc;

	assert_non_null(c);
	if (n)
		memcpy(c, s, n);
	rc = fmt_parse_request(c, n, out, why);
	free(c);
	if (rc == 0) {
		assert_non_null(*out);
		assert_null(*why);
	} else {
		assert_int_equal(rc, -1);
		assert_null(*out);
		assert_non_null(*why);
	}
	return rc;
}

/* Expects the NUL-terminated body s to be rejected with message `want`. */
static void expect_reject(const char *s, const char *want)
{
	struct json_object *o = NULL;
	const char *why = NULL;

	assert_int_equal(parse_n(s, strlen(s), &o, &why), -1);
	assert_string_equal(why, want);
}

/* Parses s, which must be valid, and returns the object (caller puts). */
static struct json_object *parse_ok(const char *s)
{
	struct json_object *o = NULL;
	const char *why = NULL;

	assert_int_equal(parse_n(s, strlen(s), &o, &why), 0);
	return o;
}

/* Detects the format of body s with the given headers (may be NULL). */
static int detect(const char *s, const char *xaf, const char *av)
{
	struct json_object *o = parse_ok(s);
	enum fmt_kind k = (enum fmt_kind)42;
	int rc = fmt_detect(o, xaf, av, &k);

	json_object_put(o);
	if (rc)
		return -1;
	assert_true(k == FMT_OPENAI || k == FMT_ANTHROPIC);
	return (int)k;
}

static const char openai_body[] =
	"{\"model\":\"MiniMax-M2.7\",\"messages\":[{\"role\":\"user\","
	"\"content\":\"你好\"}],\"stream\":false}";

static void test_valid_request(void **state)
{
	struct json_object *o, *m;

	(void)state;
	o = parse_ok(openai_body);
	assert_true(json_object_object_get_ex(o, "model", &m));
	assert_string_equal(json_object_get_string(m), "MiniMax-M2.7");
	json_object_put(o);
	/* whitespace around the object is fine */
	o = parse_ok(" \r\n\t{\"model\":\"m\",\"messages\":[]} \n\r\t ");
	json_object_put(o);
}

static void test_invalid_json(void **state)
{
	struct json_object *o = NULL;
	const char *why = NULL;

	(void)state;
	expect_reject("{", msg_bad_json);
	expect_reject("{\"model\":\"m\",\"messages\":[}", msg_bad_json);
	expect_reject("model=m&messages=x", msg_bad_json);
	expect_reject("   ", msg_bad_json);
	/* strict JSON: no trailing commas, no TRUE */
	expect_reject("{\"model\":\"m\",\"messages\":[],}", msg_bad_json);
	expect_reject("{\"model\":\"m\",\"messages\":[],\"stream\":TRUE}",
		      msg_bad_json);
	/* not UTF-8 */
	expect_reject("{\"model\":\"\xff\xfe\",\"messages\":[]}", msg_bad_json);
	/* empty and NULL bodies */
	assert_int_equal(fmt_parse_request(NULL, 0, &o, &why), -1);
	assert_null(o);
	assert_string_equal(why, "请求体为空");
	assert_int_equal(parse_n("", 0, &o, &why), -1);
	assert_string_equal(why, "请求体为空");
}

/* Only the first len bytes count, and a valid prefix is not enough. */
static void test_trailing_garbage(void **state)
{
	static const char nul_tail[] = "{\"model\":\"m\",\"messages\":[]}\0x";
	struct json_object *o = NULL;
	const char *why = NULL;

	(void)state;
	expect_reject("{\"model\":\"m\",\"messages\":[]} x", msg_bad_json);
	expect_reject("{\"model\":\"m\",\"messages\":[]}{}", msg_bad_json);
	expect_reject("{\"model\":\"m\",\"messages\":[]}]", msg_bad_json);
	/* json-c stops at a NUL: what follows must still be checked */
	assert_int_equal(parse_n(nul_tail, sizeof nul_tail - 1, &o, &why), -1);
	assert_string_equal(why, msg_bad_json);
	assert_int_equal(parse_n(nul_tail, sizeof nul_tail - 2, &o, &why), -1);
	assert_string_equal(why, msg_bad_json);
	/* cut short of the closing brace */
	assert_int_equal(parse_n(openai_body, sizeof openai_body - 2, &o, &why),
			 -1);
	assert_string_equal(why, msg_bad_json);
	/* exact length, no NUL after it in the copy */
	assert_int_equal(parse_n(openai_body, sizeof openai_body - 1, &o, &why),
			 0);
	json_object_put(o);
}

static void test_not_an_object(void **state)
{
	(void)state;
	expect_reject("[{\"model\":\"m\",\"messages\":[]}]", "请求体必须是JSON对象");
	expect_reject("\"model\"", "请求体必须是JSON对象");
	expect_reject("null", "请求体必须是JSON对象");
	expect_reject("true", "请求体必须是JSON对象");
	/* bare scalars at the very end of the body are still finished */
	expect_reject("12", "请求体必须是JSON对象");
	expect_reject("null \n", "请求体必须是JSON对象");
	expect_reject("nul", msg_bad_json);
	expect_reject("12 x", msg_bad_json);
}

static void test_model_checks(void **state)
{
	(void)state;
	expect_reject("{\"messages\":[]}", "缺少model字段");
	expect_reject("{\"model\":null,\"messages\":[]}", "缺少model字段");
	expect_reject("{\"model\":\"\",\"messages\":[]}", "缺少model字段");
	expect_reject("{\"model\":5,\"messages\":[]}", "model字段必须是字符串");
	expect_reject("{\"model\":[\"m\"],\"messages\":[]}",
		      "model字段必须是字符串");
	expect_reject("{\"model\":{},\"messages\":[]}", "model字段必须是字符串");
}

static void test_messages_checks(void **state)
{
	(void)state;
	expect_reject("{\"model\":\"m\"}", "缺少messages字段");
	expect_reject("{\"model\":\"m\",\"messages\":null}", "缺少messages字段");
	expect_reject("{\"model\":\"m\",\"messages\":\"hi\"}",
		      "messages字段必须是数组");
	expect_reject("{\"model\":\"m\",\"messages\":{\"role\":\"user\"}}",
		      "messages字段必须是数组");
	/* model is checked first */
	expect_reject("{\"messages\":5}", "缺少model字段");
}

/* Builds {"model":"m","messages":[ [[...]] ]} nested `depth` levels deep
 * (the outer object is level 1). Caller frees. */
static char *nested(int depth)
{
	static const char head[] = "{\"model\":\"m\",\"messages\":";
	size_t hl = sizeof head - 1, n = (size_t)(depth - 1);
	char *s = malloc(hl + 2 * n + 2);

	assert_non_null(s);
	memcpy(s, head, hl);
	memset(s + hl, '[', n);
	memset(s + hl + n, ']', n);
	s[hl + 2 * n] = '}';
	s[hl + 2 * n + 1] = '\0';
	return s;
}

static void test_depth_limit(void **state)
{
	struct json_object *o;
	char *s;

	(void)state;
	s = nested(FMT_MAX_DEPTH);
	o = parse_ok(s);
	json_object_put(o);
	free(s);
	s = nested(FMT_MAX_DEPTH + 1);
	expect_reject(s, "请求体JSON嵌套过深");
	free(s);
	s = nested(10000);
	expect_reject(s, "请求体JSON嵌套过深");
	free(s);
}

static void test_x_api_format_override(void **state)
{
	static const char sys[] =
		"{\"model\":\"m\",\"system\":\"s\",\"messages\":[]}";

	(void)state;
	assert_int_equal(detect(openai_body, "anthropic", NULL), FMT_ANTHROPIC);
	assert_int_equal(detect(openai_body, "AnThRoPiC", NULL), FMT_ANTHROPIC);
	assert_int_equal(detect(sys, "openai", NULL), FMT_OPENAI);
	assert_int_equal(detect(sys, "OPENAI", "2023-06-01"), FMT_OPENAI);
	/* an unknown value is an error, not a guess */
	assert_int_equal(detect(openai_body, "claude", NULL), -1);
	assert_int_equal(detect(openai_body, "openai ", NULL), -1);
	assert_int_equal(detect(sys, "gemini", NULL), -1);
	/* empty means "not given" */
	assert_int_equal(detect(sys, "", NULL), FMT_ANTHROPIC);
	assert_int_equal(detect(openai_body, "", NULL), FMT_OPENAI);
}

static void test_anthropic_version_header(void **state)
{
	(void)state;
	assert_int_equal(detect(openai_body, NULL, "2023-06-01"), FMT_ANTHROPIC);
	assert_int_equal(detect(openai_body, NULL, ""), FMT_OPENAI);
	assert_int_equal(detect(openai_body, NULL, NULL), FMT_OPENAI);
}

static void test_top_level_system(void **state)
{
	(void)state;
	assert_int_equal(detect("{\"model\":\"MiniMax-M2.7\",\"max_tokens\":4096,"
				"\"system\":\"你是一个AI助手\",\"messages\":"
				"[{\"role\":\"user\",\"content\":\"你好\"}]}",
				NULL, NULL), FMT_ANTHROPIC);
	assert_int_equal(detect("{\"model\":\"m\",\"system\":[{\"type\":\"text\","
				"\"text\":\"be brief\"}],\"messages\":[]}",
				NULL, NULL), FMT_ANTHROPIC);
	/* an OpenAI system *message* is not a top-level system */
	assert_int_equal(detect("{\"model\":\"m\",\"messages\":[{\"role\":"
				"\"system\",\"content\":\"s\"},{\"role\":\"user\","
				"\"content\":\"hi\"}]}", NULL, NULL), FMT_OPENAI);
}

static void test_tool_blocks(void **state)
{
	(void)state;
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
		"\"weather?\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
		"\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\","
		"\"input\":{\"city\":\"SF\"}}]}]}", NULL, NULL), FMT_ANTHROPIC);
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
		"[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"tool_result\","
		"\"tool_use_id\":\"toolu_1\",\"content\":\"15 degrees\"}]}]}",
		NULL, NULL), FMT_ANTHROPIC);
	/* OpenAI tool calls are not Anthropic blocks */
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
		"\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
		"\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
		"{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"ok\"}],"
		"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
		NULL, NULL), FMT_OPENAI);
	/* a "type" that is not a string, or blocks outside content */
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
		"[{\"type\":[\"tool_use\"]},\"tool_use\",7,null]},\"junk\",3],"
		"\"extra\":{\"type\":\"tool_use\"}}", NULL, NULL), FMT_OPENAI);
}

static void test_image_blocks(void **state)
{
	(void)state;
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
		"{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
		"\"image/png\",\"data\":\"iVBORw0KGgo=\"}},{\"type\":\"text\","
		"\"text\":\"what is this?\"}]}]}", NULL, NULL), FMT_ANTHROPIC);
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
		"{\"type\":\"text\",\"text\":\"what is this?\"},{\"type\":"
		"\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}]}",
		NULL, NULL), FMT_OPENAI);
	/* "image" without a source object is not enough */
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
		"{\"type\":\"image\",\"source\":\"https://x/y.png\"}]}]}",
		NULL, NULL), FMT_OPENAI);
	assert_int_equal(detect(
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
		"{\"type\":\"image\"}]}]}", NULL, NULL), FMT_OPENAI);
}

static void test_plain_openai(void **state)
{
	enum fmt_kind k = FMT_ANTHROPIC;

	(void)state;
	assert_int_equal(detect(openai_body, NULL, NULL), FMT_OPENAI);
	assert_int_equal(detect("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
				"\"user\",\"content\":[{\"type\":\"text\",\"text\":"
				"\"hi\"}]}],\"temperature\":0.2}", NULL, NULL),
			 FMT_OPENAI);
	/* no body at all: headers decide, default OpenAI */
	assert_int_equal(fmt_detect(NULL, NULL, NULL, &k), 0);
	assert_int_equal(k, FMT_OPENAI);
	assert_int_equal(fmt_detect(NULL, NULL, "2023-06-01", &k), 0);
	assert_int_equal(k, FMT_ANTHROPIC);
}

/* Returns fmt_is_stream for body s. */
static int stream_of(const char *s)
{
	struct json_object *o = parse_ok(s);
	int r = fmt_is_stream(o);

	json_object_put(o);
	return r;
}

static void test_stream_flag(void **state)
{
	(void)state;
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[],"
				   "\"stream\":true}"), 1);
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[],"
				   "\"stream\":false}"), 0);
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[]}"), 0);
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[],"
				   "\"stream\":\"true\"}"), 0);
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[],"
				   "\"stream\":1}"), 0);
	assert_int_equal(stream_of("{\"model\":\"m\",\"messages\":[],"
				   "\"stream\":null}"), 0);
	assert_int_equal(fmt_is_stream(NULL), 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(fmt_name(FMT_OPENAI), "openai");
	assert_string_equal(fmt_name(FMT_ANTHROPIC), "anthropic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_model_checks),
		cmocka_unit_test(test_messages_checks),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_x_api_format_override),
		cmocka_unit_test(test_anthropic_version_header),
		cmocka_unit_test(test_top_level_system),
		cmocka_unit_test(test_tool_blocks),
		cmocka_unit_test(test_image_blocks),
		cmocka_unit_test(test_plain_openai),
		cmocka_unit_test(test_stream_flag),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
