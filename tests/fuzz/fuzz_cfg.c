/* fuzz_cfg.c - libFuzzer target for cfg_parse_text.
 *
 * The input is the whole config text (not NUL-terminated: libFuzzer's
 * buffer ends exactly at size, so ASan catches any over-read). Beyond not
 * crashing, it checks the promises cfg.h makes: a success leaves every
 * string terminated inside its field and every number in range; a failure
 * leaves a one-line message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cfg.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define STR_OK(f) CHECK(memchr(c.f, '\0', sizeof(c.f)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data and checks the result's invariants; aborts on a breach. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	char err[256];

	cfg_defaults(&c);
	memset(err, 'x', sizeof(err));
	if (cfg_parse_text(&c, "fuzz.conf", (const char *)data, size, err,
			   sizeof(err)) != 0) {
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
		CHECK(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL);
		return 0;
	}
	STR_OK(db_host);
	STR_OK(db_socket);
	STR_OK(db_user);
	STR_OK(db_password);
	STR_OK(db_name);
	STR_OK(openai_url);
	STR_OK(anthropic_url);
	STR_OK(upstream_api_key);
	STR_OK(timezone);
	STR_OK(lock_prefix);
	STR_OK(disk_path);
	CHECK(c.lock_prefix[0] != '\0' && c.disk_path[0] != '\0');
	CHECK(c.db_port >= 1 && c.db_port <= 65535);
	CHECK(c.ssl_verify == 0 || c.ssl_verify == 1);
	CHECK(c.request_timeout >= 1 && c.request_timeout <= 86400);
	CHECK(c.connect_timeout >= 1 && c.connect_timeout <= 600);
	CHECK(c.upstream_slots >= 1 && c.upstream_slots <= 1000);
	CHECK(c.queue_max >= 0 && c.queue_max <= 1000000);
	CHECK(c.max_body_bytes >= 1024 && c.max_body_bytes <= 1073741824LL);
	CHECK(c.result_retention_hours >= 0 && c.result_retention_hours <= 87600);
	CHECK(c.path[0] == '\0');
	return 0;
}
