/* models.h - model names: the per-key allow-list and GET /v1/models.
 *
 * The list comes from the config's `models` (comma-separated) or else the
 * upstream's own GET .../models (any body with data[].id), cached per
 * process for MODELS_CACHE_S seconds. Rendered in the OpenAI list shape or,
 * for a client that sends anthropic-version, in Anthropic's. */
#ifndef RELAY_MODELS_H
#define RELAY_MODELS_H

#include <stddef.h>

struct app;
struct json_object;

#define MODELS_CACHE_S 300


/* Ids of the known models as a new JSON array the caller owns, or NULL
 * when neither the config nor the upstream gave a list. */
struct json_object *models_list(struct app *a);

/* The list response for `ids` (borrowed) filtered by the allow-list; a new
 * object the caller owns. anthropic = Anthropic's shape. */
struct json_object *models_render(struct json_object *ids, const char *list,
				  int set, int anthropic);

#endif
