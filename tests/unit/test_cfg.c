/* test_cfg.c - unit tests for cfg.c: defaults, INI parsing, environment
 * overrides, error messages (with line numbers), timezone checks.
 *
 * Files are written under a mkdtemp() folder made in the group setup and
 * removed in the group teardown. The environment is a table in this file,
 * passed to cfg_load_from, so the real environment does not leak in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cfg.h"

static char tmpdir[256];
static char err[512];

/* ---- fake environment ---- */
static const char *fenv_names[8];
static const char *fenv_vals[8];
static size_t fenv_n;

/* Looks name up in the fake environment table. */
static const char *fake_env(const char *name)
{
	size_t i;

	for (i = 0; i < fenv_n; i++)
		if (!strcmp(fenv_names[i], name))
			return fenv_vals[i];
	return NULL;
}

/* Adds name=val to the fake environment (strings must outlive the test). */
static void fenv_set(const char *name, const char *val)
{
	assert_true(fenv_n < 8);
	fenv_names[fenv_n] = name;
	fenv_vals[fenv_n] = val;
	fenv_n++;
}

/* Empties the fake environment and the error buffer before each test. */
static int reset(void **state)
{
	(void)state;
	fenv_n = 0;
	memset(err, 0, sizeof(err));
	return 0;
}

/* Writes len bytes to tmpdir/name; the full path goes into path (64+). */
static void write_file(const char *name, const char *text, size_t len,
		       char *path, size_t pathlen)
{
	FILE *f;
	int n = snprintf(path, pathlen, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < pathlen);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Parses text as a file named "a.conf" on top of defaults. */
static int parse(struct cfg *c, const char *text)
{
	cfg_defaults(c);
	return cfg_parse_text(c, "a.conf", text, strlen(text), err, sizeof(err));
}

/* Expects text to fail with exactly the message want. */
static void expect_err(const char *text, const char *want)
{
	struct cfg c;

	assert_int_equal(parse(&c, text), -1);
	assert_string_equal(err, want);
}

/* Loads defaults + the fake environment (no file). */
static int load_env(struct cfg *c)
{
	return cfg_load_from(c, NULL, fake_env, err, sizeof(err));
}

static void test_defaults(void **state)
{
	struct cfg c;

	(void)state;
	memset(&c, 0x55, sizeof(c));
	cfg_defaults(&c);
	assert_string_equal(c.db_host, "localhost");
	assert_int_equal(c.db_port, 3306);
	assert_string_equal(c.db_socket, "");
	assert_string_equal(c.db_user, "llm_relay");
	assert_string_equal(c.db_password, "");
	assert_string_equal(c.db_name, "llm_relay");
	assert_string_equal(c.openai_url, "");
	assert_string_equal(c.anthropic_url, "");
	assert_string_equal(c.upstream_api_key, "");
	assert_int_equal(c.ssl_verify, 1);
	assert_int_equal(c.request_timeout, 120);
	assert_int_equal(c.connect_timeout, 10);
	assert_int_equal(c.upstream_slots, 1);
	assert_int_equal(c.queue_max, 100);
	assert_true(c.max_body_bytes == 10485760LL);
	assert_string_equal(c.timezone, "");
	assert_int_equal(c.result_retention_hours, 24);
	assert_string_equal(c.lock_prefix, "llm_relay");
	assert_string_equal(c.disk_path, "/");
	assert_string_equal(c.path, "");
}

static void test_no_file_no_env(void **state)
{
	struct cfg c;

	(void)state;
	assert_int_equal(load_env(&c), 0);
	assert_string_equal(c.db_host, "localhost");
	assert_string_equal(c.path, "");
	assert_string_equal(err, "");
}

static void test_good_file(void **state)
{
	static const char text[] =
		"# llm-relay configuration\n"
		"; another comment style\n"
		"\n"
		"[database]\n"
		"db_host = db.example.net\n"
		"db_port=3307\n"
		"  db_socket   =   /run/mysqld/mysqld.sock   \n"
		"db_user = relay\n"
		"db_password = p#ss;w=rd\n"
		"db_name = relay_prod\n"
		"[upstream]\n"
		"openai_url = https://api.example.com/v1/chat/completions\n"
		"anthropic_url = http://127.0.0.1:8080/v1/messages\n"
		"upstream_api_key = \"sk-upstream-123\"\n"
		"ssl_verify = off\n"
		"request_timeout = 300\n"
		"connect_timeout = 5\n"
		"upstream_slots = 4\n"
		"queue_max = 0\n"
		"max_body_bytes = 1073741824\n"
		"timezone = UTC0\n"
		"result_retention_hours = 0\n"
		"lock_prefix = relay-2.prod_x\n"
		"disk_path = /var/lib/mysql\n";
	char path[512];
	struct cfg c;

	(void)state;
	write_file("good.conf", text, sizeof(text) - 1, path, sizeof(path));
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), 0);
	assert_string_equal(c.path, path);
	assert_string_equal(c.db_host, "db.example.net");
	assert_int_equal(c.db_port, 3307);
	assert_string_equal(c.db_socket, "/run/mysqld/mysqld.sock");
	assert_string_equal(c.db_user, "relay");
	assert_string_equal(c.db_password, "p#ss;w=rd");
	assert_string_equal(c.db_name, "relay_prod");
	assert_string_equal(c.openai_url, "https://api.example.com/v1/chat/completions");
	assert_string_equal(c.anthropic_url, "http://127.0.0.1:8080/v1/messages");
	assert_string_equal(c.upstream_api_key, "sk-upstream-123");
	assert_int_equal(c.ssl_verify, 0);
	assert_int_equal(c.request_timeout, 300);
	assert_int_equal(c.connect_timeout, 5);
	assert_int_equal(c.upstream_slots, 4);
	assert_int_equal(c.queue_max, 0);
	assert_true(c.max_body_bytes == 1073741824LL);
	assert_string_equal(c.timezone, "UTC0");
	assert_int_equal(c.result_retention_hours, 0);
	assert_string_equal(c.lock_prefix, "relay-2.prod_x");
	assert_string_equal(c.disk_path, "/var/lib/mysql");
	unsetenv("TZ");
	tzset();
}

static void test_error_messages(void **state)
{
	(void)state;
	expect_err("# c\n\nfoo = 1\n", "a.conf:3: unknown key 'foo'");
	expect_err("db_host = x\njust words\n", "a.conf:2: expected key = value");
	expect_err(" = 5\n", "a.conf:1: expected key = value");
	expect_err("[broken\n", "a.conf:1: expected key = value");
	expect_err("\n\n\n\nrequest_timeout = abc\n",
		   "a.conf:5: request_timeout: 'abc' is not a number");
	expect_err("request_timeout = 0\n",
		   "a.conf:1: request_timeout: 0 out of range 1..86400");
	expect_err("ssl_verify = maybe\n",
		   "a.conf:1: ssl_verify: 'maybe' is not a boolean "
		   "(true/false, yes/no, on/off, 1/0)");
	expect_err("db_host = \"abc\n", "a.conf:1: db_host: missing closing quote");
	expect_err("db_host = \"abc\" x\n",
		   "a.conf:1: db_host: unexpected text after closing quote");
	expect_err("openai_url = ftp://user:secret@host/\n",
		   "a.conf:1: openai_url: must be empty or start with http:// or https://");
	expect_err("openai_url = http://exa mple/\n",
		   "a.conf:1: openai_url: must not contain spaces or control characters");
	expect_err("openai_url = http://host:99999/v1\n",
		   "a.conf:1: openai_url: is not a valid URL (Port number was not a decimal number between 0 and 65535)");
	expect_err("anthropic_url = https://\n",
		   "a.conf:1: anthropic_url: has no host after the scheme");
	expect_err("anthropic_url = https://a b\n",
		   "a.conf:1: anthropic_url: must not contain spaces or control characters");
	expect_err("lock_prefix = a/b\n",
		   "a.conf:1: lock_prefix: only the characters A-Z a-z 0-9 _ . - are allowed");
	expect_err("lock_prefix =\n", "a.conf:1: lock_prefix: must not be empty");
	expect_err("disk_path = \"\"\n", "a.conf:1: disk_path: must not be empty");
	/* control bytes in a quoted key are shown as '?', one line */
	expect_err("fo\to\x01 = 1\n", "a.conf:1: unknown key 'fo?o?'");
	/* keys are exact: no case folding */
	expect_err("DB_HOST = x\n", "a.conf:1: unknown key 'DB_HOST'");
}

static void test_too_long(void **state)
{
	char text[3000], want[128];
	struct cfg c;
	int n;

	(void)state;
	/* db_host holds 255 characters: 255 is fine, 256 is not */
	n = snprintf(text, sizeof(text), "db_host = %0255d\n", 0);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(parse(&c, text), 0);
	assert_int_equal(strlen(c.db_host), 255);
	snprintf(text, sizeof(text), "\ndb_host = %0256d\n", 0);
	expect_err(text, "a.conf:2: db_host: value too long (max 255)");
	/* a value longer than any field is refused before it is looked at */
	memcpy(text, "openai_url = ", 13);
	memset(text + 13, 'x', 2900);
	text[2913] = '\0';
	expect_err(text, "a.conf:1: openai_url: value too long (max 2047)");
	memset(text, 0, sizeof(text));
	memcpy(text, "lock_prefix = ", 14);
	memset(text + 14, 'a', 48);
	assert_int_equal(parse(&c, text), 0);
	text[14 + 48] = 'a';
	snprintf(want, sizeof(want), "a.conf:1: lock_prefix: value too long (max 48)");
	expect_err(text, want);
	/* a number longer than the decode buffer */
	memset(text, '1', sizeof(text) - 1);
	memcpy(text, "queue_max = ", 12);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(parse(&c, text), -1);
	assert_non_null(strstr(err, "a.conf:1: queue_max: "));
	/* longer than the decode buffer: still "too long" with the field max */
	{
		char *big = malloc(6000);

		assert_non_null(big);
		memset(big, 'h', 5999);
		memcpy(big, "db_host=", 8);
		big[5999] = '\0';
		expect_err(big, "a.conf:1: db_host: value too long (max 255)");
		free(big);
	}
}

static void test_env_overrides_file(void **state)
{
	static const char text[] = "db_host = filehost\nrequest_timeout = 30\n"
				   "openai_url = https://file/\nqueue_max = 7\n";
	char path[512];
	struct cfg c;

	(void)state;
	write_file("env.conf", text, sizeof(text) - 1, path, sizeof(path));
	fenv_set("RELAY_DB_HOST", "envhost");
	fenv_set("RELAY_REQUEST_TIMEOUT", "45");
	fenv_set("RELAY_SSL_VERIFY", "No");
	fenv_set("RELAY_MAX_BODY_BYTES", "2048");
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), 0);
	assert_string_equal(c.db_host, "envhost");
	assert_int_equal(c.request_timeout, 45);
	assert_int_equal(c.ssl_verify, 0);
	assert_true(c.max_body_bytes == 2048);
	assert_string_equal(c.openai_url, "https://file/");   /* not overridden */
	assert_int_equal(c.queue_max, 7);
}

static void test_env_empty(void **state)
{
	static const char text[] = "openai_url = https://file/\n";
	char path[512];
	struct cfg c;

	(void)state;
	write_file("empty.conf", text, sizeof(text) - 1, path, sizeof(path));
	fenv_set("RELAY_OPENAI_URL", "");
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), 0);
	assert_string_equal(c.openai_url, "");

	reset(NULL);
	fenv_set("RELAY_REQUEST_TIMEOUT", "");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_REQUEST_TIMEOUT: "
			    "request_timeout: '' is not a number");
	reset(NULL);
	fenv_set("RELAY_SSL_VERIFY", "");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_SSL_VERIFY: ssl_verify: "
			    "'' is not a boolean (true/false, yes/no, on/off, 1/0)");
	reset(NULL);
	fenv_set("RELAY_LOCK_PREFIX", "");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_LOCK_PREFIX: lock_prefix: "
			    "must not be empty");
}

static void test_env_errors(void **state)
{
	struct cfg c;

	(void)state;
	fenv_set("RELAY_DB_PORT", "70000");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_DB_PORT: db_port: "
			    "70000 out of range 1..65535");
	reset(NULL);
	/* env values are taken exactly: no trimming */
	fenv_set("RELAY_DB_PORT", " 80");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_DB_PORT: db_port: "
			    "' 80' is not a number");
	reset(NULL);
	fenv_set("RELAY_ANTHROPIC_URL", "gopher://x");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_ANTHROPIC_URL: anthropic_url: "
			    "must be empty or start with http:// or https://");
	reset(NULL);
	fenv_set("RELAY_QUEUE_MAX", "-1");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_QUEUE_MAX: queue_max: "
			    "-1 out of range 0..1000000");
}

static void test_quotes(void **state)
{
	struct cfg c;

	(void)state;
	assert_int_equal(parse(&c, "db_password = \"a \\\"b\\\" \\\\ c\"\n"), 0);
	assert_string_equal(c.db_password, "a \"b\" \\ c");
	assert_int_equal(parse(&c, "db_password = \"  spaced  \"   \n"), 0);
	assert_string_equal(c.db_password, "  spaced  ");
	assert_int_equal(parse(&c, "db_password = \"\"\n"), 0);
	assert_string_equal(c.db_password, "");
	/* other backslashes stay as written */
	assert_int_equal(parse(&c, "db_password = \"C:\\dir\\n\"\n"), 0);
	assert_string_equal(c.db_password, "C:\\dir\\n");
	/* unquoted: taken literally, inner quotes included */
	assert_int_equal(parse(&c, "db_password = ab\"c\\\"\n"), 0);
	assert_string_equal(c.db_password, "ab\"c\\\"");
	assert_int_equal(parse(&c, "db_password = a = b\n"), 0);
	assert_string_equal(c.db_password, "a = b");
	/* a quoted number */
	assert_int_equal(parse(&c, "request_timeout = \"60\"\n"), 0);
	assert_int_equal(c.request_timeout, 60);
	assert_int_equal(parse(&c, "db_host = \"x\\\"\n"), -1);
	assert_string_equal(err, "a.conf:1: db_host: missing closing quote");
	/* the empty value unquoted */
	assert_int_equal(parse(&c, "db_socket =\n"), 0);
	assert_string_equal(c.db_socket, "");
}

static void test_bom_crlf(void **state)
{
	static const char text[] = "\xEF\xBB\xBF# bom\r\n[s]\r\ndb_host = h\r\n"
				   "db_port = 1\r\r\n\r\nfoo = 1\r\n";
	char path[512];
	struct cfg c;

	(void)state;
	assert_int_equal(parse(&c, "\xEF\xBB\xBF" "db_host = bom\r\n"
			       "db_user = \"u\"\r\n"), 0);
	assert_string_equal(c.db_host, "bom");
	assert_string_equal(c.db_user, "u");
	write_file("crlf.conf", text, sizeof(text) - 1, path, sizeof(path));
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":6: unknown key 'foo'"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	/* a BOM only counts at the start */
	expect_err("db_host = a\n\xEF\xBB\xBF" "db_user = b\n",
		   "a.conf:2: unknown key '\xEF\xBB\xBF" "db_user'");
	/* no newline at the end */
	assert_int_equal(parse(&c, "db_port = 99"), 0);
	assert_int_equal(c.db_port, 99);
}

static void test_ranges(void **state)
{
	struct cfg c;

	(void)state;
	assert_int_equal(parse(&c, "db_port = 1\n"), 0);
	assert_int_equal(c.db_port, 1);
	assert_int_equal(parse(&c, "db_port = 65535\n"), 0);
	assert_int_equal(c.db_port, 65535);
	expect_err("db_port = 65536\n", "a.conf:1: db_port: 65536 out of range 1..65535");
	expect_err("db_port = 0\n", "a.conf:1: db_port: 0 out of range 1..65535");
	assert_int_equal(parse(&c, "request_timeout = 86400\n"), 0);
	expect_err("request_timeout = 86401\n",
		   "a.conf:1: request_timeout: 86401 out of range 1..86400");
	assert_int_equal(parse(&c, "connect_timeout = 600\n"), 0);
	expect_err("connect_timeout = 601\n",
		   "a.conf:1: connect_timeout: 601 out of range 1..600");
	assert_int_equal(parse(&c, "upstream_slots = 1000\n"), 0);
	expect_err("upstream_slots = 0\n",
		   "a.conf:1: upstream_slots: 0 out of range 1..1000");
	assert_int_equal(parse(&c, "queue_max = 1000000\n"), 0);
	assert_int_equal(c.queue_max, 1000000);
	expect_err("queue_max = -1\n", "a.conf:1: queue_max: -1 out of range 0..1000000");
	assert_int_equal(parse(&c, "result_retention_hours = 87600\n"), 0);
	expect_err("result_retention_hours = 87601\n",
		   "a.conf:1: result_retention_hours: 87601 out of range 0..87600");
	assert_int_equal(parse(&c, "max_body_bytes = 1024\n"), 0);
	assert_true(c.max_body_bytes == 1024);
	expect_err("max_body_bytes = 1023\n",
		   "a.conf:1: max_body_bytes: 1023 out of range 1024..1073741824");
	expect_err("max_body_bytes = 1073741825\n",
		   "a.conf:1: max_body_bytes: 1073741825 out of range 1024..1073741824");
	/* overflow of long long is out of range, shown as written */
	expect_err("max_body_bytes = 99999999999999999999\n",
		   "a.conf:1: max_body_bytes: 99999999999999999999 out of range "
		   "1024..1073741824");
	/* an int field given a number beyond int */
	expect_err("db_port = 4294967297\n",
		   "a.conf:1: db_port: 4294967297 out of range 1..65535");
	/* forms strtol would take but a config should not */
	expect_err("db_port = 0x10\n", "a.conf:1: db_port: '0x10' is not a number");
	expect_err("db_port = 1e3\n", "a.conf:1: db_port: '1e3' is not a number");
	expect_err("db_port = \" 80\"\n", "a.conf:1: db_port: ' 80' is not a number");
	expect_err("db_port = \"80 \"\n", "a.conf:1: db_port: '80 ' is not a number");
	expect_err("db_port = -\n", "a.conf:1: db_port: '-' is not a number");
	expect_err("db_port = 80 # http\n",
		   "a.conf:1: db_port: '80 # http' is not a number");
	assert_int_equal(parse(&c, "db_port = +80\n"), 0);
	assert_int_equal(c.db_port, 80);
	assert_int_equal(parse(&c, "db_port = 0080\n"), 0);
	assert_int_equal(c.db_port, 80);
}

static void test_bools(void **state)
{
	static const char *const t[] = { "1", "true", "TRUE", "yes", "Yes", "on", "ON" };
	static const char *const f[] = { "0", "false", "False", "no", "NO", "off", "oFf" };
	char text[64];
	struct cfg c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "ssl_verify = %s\n", f[i]);
		assert_int_equal(parse(&c, text), 0);
		assert_int_equal(c.ssl_verify, 0);
		snprintf(text, sizeof(text), "ssl_verify = %s\n", t[i]);
		assert_int_equal(parse(&c, text), 0);
		assert_int_equal(c.ssl_verify, 1);
	}
	expect_err("ssl_verify = 2\n", "a.conf:1: ssl_verify: '2' is not a boolean "
		   "(true/false, yes/no, on/off, 1/0)");
	expect_err("ssl_verify =\n", "a.conf:1: ssl_verify: '' is not a boolean "
		   "(true/false, yes/no, on/off, 1/0)");
}

static void test_timezone(void **state)
{
	static const char *const good[] = {
		"UTC", "UTC0", "CST-8", "<+08>-8", "EST5EDT,M3.2.0,M11.1.0",
		"CET-1CEST,M3.5.0,M10.5.0/3", "IST-5:30", "NZST-12NZDT,J60/2,300/3",
		"GMT"
	};
	static const char *const bad[] = {
		"Mars/Olympus", "XYZ", "../../../etc/passwd", "/etc/passwd",
		"UTC+99", "CST-8 ", "AB-8", "EST5EDT,M13.1.0,M11.1.0", "Asia",
		"CST-8,", "<+0>8"
	};
	char text[256], want[256];
	struct cfg c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "timezone = \"%s\"\n", good[i]);
		if (parse(&c, text) != 0)
			fail_msg("%s: %s", good[i], err);
		assert_string_equal(c.timezone, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "timezone = \"%s\"\n", bad[i]);
		snprintf(want, sizeof(want), "a.conf:1: timezone: unknown zone '%s'",
			 bad[i]);
		expect_err(text, want);
	}
	fenv_set("RELAY_TIMEZONE", "Mars/Olympus");
	assert_int_equal(load_env(&c), -1);
	assert_string_equal(err, "environment RELAY_TIMEZONE: timezone: "
			    "unknown zone 'Mars/Olympus'");
}

/* A named zone from tzdata is accepted and applied as TZ. */
static void test_timezone_applied(void **state)
{
	struct cfg c;
	struct tm tm;
	time_t t = 0;

	(void)state;
	if (access("/usr/share/zoneinfo/Asia/Shanghai", R_OK) != 0)
		skip();
	fenv_set("RELAY_TIMEZONE", "Asia/Shanghai");
	assert_int_equal(load_env(&c), 0);
	assert_string_equal(getenv("TZ"), "Asia/Shanghai");
	assert_non_null(localtime_r(&t, &tm));
	assert_int_equal(tm.tm_hour, 8);   /* 1970-01-01 08:00 in Beijing */
	reset(NULL);
	fenv_set("RELAY_TIMEZONE", "CST-8");
	assert_int_equal(load_env(&c), 0);
	assert_string_equal(getenv("TZ"), "CST-8");
	unsetenv("TZ");
	tzset();
}

static void test_missing_file(void **state)
{
	char path[512], want[700];
	struct cfg c;

	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot read config %s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	/* a folder is not a config file */
	assert_int_equal(cfg_load_from(&c, tmpdir, fake_env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read config"));
}

static void test_big_file(void **state)
{
	size_t n = 1024 * 1024 + 1;
	char *text = malloc(n), path[512];
	struct cfg c;

	(void)state;
	assert_non_null(text);
	memset(text, '\n', n);
	write_file("big.conf", text, n, path, sizeof(path));
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	/* exactly 1 MiB is fine */
	write_file("big.conf", text, n - 1, path, sizeof(path));
	assert_int_equal(cfg_load_from(&c, path, fake_env, err, sizeof(err)), 0);
	free(text);
	unlink(path);
}

static void test_custom_env_fn(void **state)
{
	struct cfg c;

	(void)state;
	fenv_set("RELAY_DB_HOST", "from-fn");
	fenv_set("RELAY_UPSTREAM_SLOTS", "3");
	fenv_set("RELAY_DB_PASSWORD", "s3cr=t \"x\"");
	fenv_set("db_user", "lower-case names are not looked at");
	assert_int_equal(load_env(&c), 0);
	assert_string_equal(c.db_host, "from-fn");
	assert_int_equal(c.upstream_slots, 3);
	assert_string_equal(c.db_password, "s3cr=t \"x\"");
	assert_string_equal(c.db_user, "llm_relay");
}

static void test_cfg_load(void **state)
{
	static const char text[] = "queue_max = 42\n";
	char path[512], missing[512];
	struct cfg c;
	const char *old = getenv("RELAY_CONFIG");

	(void)state;
	if (old)
		skip();   /* do not disturb a caller's environment */
	write_file("load.conf", text, sizeof(text) - 1, path, sizeof(path));
	assert_int_equal(setenv("RELAY_CONFIG", path, 1), 0);
	if (cfg_load(&c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (!getenv("RELAY_QUEUE_MAX"))
		assert_int_equal(c.queue_max, 42);
	assert_string_equal(c.path, path);
	snprintf(missing, sizeof(missing), "%s/nope.conf", tmpdir);
	assert_int_equal(setenv("RELAY_CONFIG", missing, 1), 0);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read config"));
	unsetenv("RELAY_CONFIG");
}

/* issue 16: /metrics access and log retention */
static void test_operations(void **state)
{
	struct cfg c;

	(void)state;
	cfg_defaults(&c);
	assert_string_equal(c.metrics_allow, "127.0.0.1, ::1");
	assert_string_equal(c.metrics_token, "");
	assert_int_equal(c.log_retention_days, 0);
	assert_int_equal(c.log_archive, 0);
	assert_int_equal(parse(&c, "metrics_allow = 10.0.0.0/8, fd00::/8\nmetrics_token = s3cret\n"
			      "log_retention_days = 365\nlog_archive = true\n"), 0);
	assert_string_equal(c.metrics_allow, "10.0.0.0/8, fd00::/8");
	assert_string_equal(c.metrics_token, "s3cret");
	assert_int_equal(c.log_retention_days, 365);
	assert_int_equal(c.log_archive, 1);
	assert_int_equal(parse(&c, "metrics_allow =\n"), 0);
	assert_string_equal(c.metrics_allow, "");
	assert_int_equal(parse(&c, "metrics_allow = 10.0.0.0/33\n"), -1);
	assert_non_null(strstr(err, "a.conf:1: metrics_allow: "));
	assert_int_equal(parse(&c, "metrics_allow = localhost\n"), -1);
	expect_err("log_retention_days = 36501\n",
		   "a.conf:1: log_retention_days: 36501 out of range 0..36500");
	expect_err("log_retention_days = -1\n",
		   "a.conf:1: log_retention_days: -1 out of range 0..36500");
}

static void test_misc(void **state)
{
	static const char nul[] = "db_host = a\0b\n";
	char small[12];
	struct cfg c;

	(void)state;
	/* duplicate keys: the last one wins */
	assert_int_equal(parse(&c, "db_host = a\ndb_host = b\n"), 0);
	assert_string_equal(c.db_host, "b");
	/* a NUL inside the text is an error, not a silent cut */
	cfg_defaults(&c);
	assert_int_equal(cfg_parse_text(&c, "a.conf", nul, sizeof(nul) - 1,
					err, sizeof(err)), -1);
	assert_string_equal(err, "a.conf:1: NUL byte in line");
	/* a short error buffer gets a cut, terminated message */
	cfg_defaults(&c);
	assert_int_equal(cfg_parse_text(&c, "a.conf", "x\n", 2, small, sizeof(small)), -1);
	assert_string_equal(small, "a.conf:1: e");
	/* no buffer at all is allowed */
	assert_int_equal(cfg_parse_text(&c, "a.conf", "x\n", 2, NULL, 0), -1);
	/* empty and NULL text */
	assert_int_equal(cfg_parse_text(&c, "a.conf", NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(cfg_parse_text(&c, "a.conf", "", 0, err, sizeof(err)), 0);
	/* a long bad value is cut in the message, which stays one line */
	assert_int_equal(parse(&c, "db_port = 1234567890abcdefghij1234567890abcdefghij"
			       "1234567890abcdefghij1234567890abcdefghij\n"), -1);
	assert_non_null(strstr(err, "...' is not a number"));
	assert_null(strchr(err, '\n'));
	/* URL schemes are case-insensitive */
	assert_int_equal(parse(&c, "openai_url = HTTPS://Example.com/x\n"), 0);
	/* a secret in a rejected URL is not echoed */
	assert_int_equal(parse(&c, "openai_url = ftp://u:hunter2@h/\n"), -1);
	assert_null(strstr(err, "hunter2"));
	/* [section] with anything inside is ignored */
	assert_int_equal(parse(&c, "[ any thing = here ]\n[]\n"), 0);
}

/* Makes the temp folder. */
static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_cfg.XXXXXX",
		 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 128 ?
		 getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Removes the files the tests wrote, then the folder. */
static int group_teardown(void **state)
{
	static const char *const files[] = {
		"good.conf", "env.conf", "empty.conf", "crlf.conf", "big.conf",
		"load.conf"
	};
	char path[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* cfg_info (the generated docs' source): every key has a meaning, and its
 * default, spelled as a config file would, is what cfg_defaults sets: a
 * file of every "key = default" parses to the defaults. */
static void test_info(void **state)
{
	struct cfg_info in;
	struct cfg d, c;
	char text[16384];
	size_t i, n = 0;
	int len;

	(void)state;
	for (i = 0; cfg_info(i, &in) == 0; i++) {
		assert_non_null(in.doc);
		assert_true(strlen(in.doc) > 10);
		assert_true(strcmp(in.kind, "string") == 0 ||
			    strcmp(in.kind, "integer") == 0 ||
			    strcmp(in.kind, "boolean") == 0);
		len = snprintf(text + n, sizeof(text) - n, "%s = \"%s\"\n",
			       in.name, in.def);
		assert_true(len > 0 && (size_t)len < sizeof(text) - n);
		n += (size_t)len;
	}
	assert_true(i >= 47);   /* the 47 of issue 24, and any added since */
	assert_int_equal(cfg_info(i, &in), -1);
	cfg_defaults(&d);
	cfg_defaults(&c);
	memset(c.db_host, 'x', 8);   /* the file must set it back */
	assert_int_equal(cfg_parse_text(&c, "all.conf", text, n, err,
					sizeof(err)), 0);
	assert_int_equal(memcmp(&c, &d, sizeof(c)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, reset),
		cmocka_unit_test_setup(test_no_file_no_env, reset),
		cmocka_unit_test_setup(test_good_file, reset),
		cmocka_unit_test_setup(test_error_messages, reset),
		cmocka_unit_test_setup(test_too_long, reset),
		cmocka_unit_test_setup(test_env_overrides_file, reset),
		cmocka_unit_test_setup(test_env_empty, reset),
		cmocka_unit_test_setup(test_env_errors, reset),
		cmocka_unit_test_setup(test_quotes, reset),
		cmocka_unit_test_setup(test_bom_crlf, reset),
		cmocka_unit_test_setup(test_ranges, reset),
		cmocka_unit_test_setup(test_bools, reset),
		cmocka_unit_test_setup(test_timezone, reset),
		cmocka_unit_test_setup(test_timezone_applied, reset),
		cmocka_unit_test_setup(test_missing_file, reset),
		cmocka_unit_test_setup(test_big_file, reset),
		cmocka_unit_test_setup(test_custom_env_fn, reset),
		cmocka_unit_test_setup(test_cfg_load, reset),
		cmocka_unit_test_setup(test_misc, reset),
		cmocka_unit_test_setup(test_operations, reset),
		cmocka_unit_test_setup(test_info, reset),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
