/* fuzz_jkeys.c - libFuzzer target for the key scanner (jkeys.c).
 *
 * The input is a request body in an exactly sized heap copy (ASan sees any
 * read past it). Contract checked: a key jkeys_dup reports as repeated is
 * one json-c sees in the object (the scanner decodes keys as json-c does,
 * so it never names a key json-c would not find). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "jkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless json-c's object for the NUL-free body z holds key d. */
static void check_named(const char *z, const char *d)
{
	struct json_object *o = json_tokener_parse(z), *so;

	if (o && json_object_is_type(o, json_type_object)) {
		if (strcmp(d, "stream_options.include_usage") == 0) {
			if (!json_object_object_get_ex(o, "stream_options", &so) ||
			    !json_object_object_get_ex(so, "include_usage", NULL))
				abort();
		} else if (!json_object_object_get_ex(o, d, NULL)) {
			abort();
		}
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1), *z;
	char k[JKEYS_NAME_MAX + 1];
	const char *d;
	size_t n;

	if (!body)
		abort();
	if (size)
		memcpy(body, data, size);
	d = jkeys_dup(body, size);
	if (d && !memchr(body, '\0', size)) {
		z = malloc(size + 1);
		if (!z)
			abort();
		memcpy(z, body, size);
		z[size] = '\0';
		check_named(z, d);
		free(z);
	}
	if (size && body[0] == '"')
		(void)jkeys_string(body, size, 0, k, sizeof(k), &n);
	(void)jkeys_value(body, size, 0);
	free(body);
	return 0;
}
