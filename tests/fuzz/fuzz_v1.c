/* fuzz_v1.c - libFuzzer target for the parsers of the SDK routes and the
 * console: route matching and relative paths (route.c), the upstream
 * response-header filter (hdrpass.c), the local token estimate (tokest.c)
 * and the cookie reader (cookie.c).
 *
 * Input layout: byte 0 picks the parser, the rest is its input, copied into
 * an exactly-sized NUL-terminated heap block so ASan sees any over-read.
 * Checks what the headers promise about the results. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cookie.h"
#include "hdrpass.h"
#include "route.h"
#include "tokest.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd NUL-terminated copy of n bytes (caller frees). */
static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void fuzz_route(const char *s, size_t n)
{
	static const char *const methods[] = { "GET", "POST", "HEAD", "PUT" };
	const struct route *rt = NULL;
	char out[300];
	size_t len;

	for (size_t m = 0; m < 4; m++) {
		enum route_rc rc = route_match(methods[m], s, n, &rt);
		CHECK(rc != ROUTE_FOUND || rt != NULL);
	}
	(void)route_guess_fmt(s, n, n & 1);
	len = route_rel_path(s, "/api/call.php", s, out, sizeof(out));
	CHECK(len == (size_t)-1 || (len < sizeof(out) && strlen(out) == len));
}

static void fuzz_hdrpass(const char *s)
{
	char out[512];
	size_t len = hdrpass_copy(out, sizeof(out), s, 1);

	CHECK(len < sizeof(out) && strlen(out) == len);
	for (size_t i = 0; i < len; i++)   /* no header injection possible */
		CHECK(out[i] != '\r' || out[i + 1] == '\n');
}

static void fuzz_cookie(const char *s)
{
	char out[64];

	if (cookie_get(s, "relay_session", out, sizeof(out)) == 0)
		CHECK(strlen(out) < sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = dup_n(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		fuzz_route(s, size - 1);
		break;
	case 1:
		fuzz_hdrpass(s);
		break;
	case 2:
		CHECK(tokest_count(s, size - 1) >= -1);   /* -1: not JSON */
		break;
	default:
		fuzz_cookie(s);
		break;
	}
	free(s);
	return 0;
}
