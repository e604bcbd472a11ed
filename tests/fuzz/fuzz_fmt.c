/* fuzz_fmt.c - libFuzzer target for request validation and format
 * detection (fmt.c).
 *
 * The input is the request body, handed over as an exactly sized heap copy
 * so ASan catches a read past its length. A body that parses must satisfy
 * the contract (object, string model, array messages) and is then run
 * through detection with every kind of header value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs fmt_detect and checks its result is one of the two formats. */
static int detect_checked(struct json_object *o, const char *xaf,
			  const char *av)
{
	enum fmt_kind k = (enum fmt_kind)-7;
	int rc = fmt_detect(o, xaf, av, &k);

	if (rc == 0 && k != FMT_OPENAI && k != FMT_ANTHROPIC)
		abort();
	if (rc != 0 && rc != -1)
		abort();
	return rc == 0 ? (int)k : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o = NULL, *v;
	const char *why = NULL;
	char *body = malloc(size ? size : 1);
	int rc, k;

	if (!body)
		abort();
	if (size)
		memcpy(body, data, size);
	rc = fmt_parse_request(body, size, &o, &why);
	free(body);
	if (rc != 0) {
		/* failure: no object, a message */
		if (rc != -1 || o || !why || !*why)
			abort();
		return 0;
	}
	if (!o || why || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "model", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(o, "messages", &v) ||
	    !json_object_is_type(v, json_type_array))
		abort();

	k = detect_checked(o, NULL, NULL);
	/* headers: an explicit format always wins, a version header forces
	 * Anthropic, a bad format is refused whatever the body */
	if (detect_checked(o, "OpenAI", "2023-06-01") != FMT_OPENAI ||
	    detect_checked(o, "anthropic", NULL) != FMT_ANTHROPIC ||
	    detect_checked(o, "bogus", NULL) != -1 ||
	    detect_checked(o, "", "2023-06-01") != FMT_ANTHROPIC ||
	    detect_checked(o, "", "") != k)
		abort();
	if (fmt_is_stream(o) != 0 && fmt_is_stream(o) != 1)
		abort();
	if (strcmp(fmt_name((enum fmt_kind)k), k ? "anthropic" : "openai"))
		abort();
	json_object_put(o);
	return 0;
}
