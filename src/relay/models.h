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


/* Ids of the models the enabled backends serve, as a new JSON array the
 * caller owns (issue 26): the legacy `models` setting or else the default
 * backend's own upstream list, and every table backend's configured
 * names and mapping patterns (globs as configured). */
struct json_object *models_list(struct app *a);

/* 1 when some enabled backend serves model (either format). */
int models_served(struct app *a, const char *model);

/* Adds the names of an allow-list (not globs) that some backend serves
 * to ids: a key limited to "glm4.7,kimi2.5" on a backend that takes every
 * model lists those two. */
void models_add_allowed(struct app *a, struct json_object *ids, const char *list, int set);

/* The list response for `ids` (borrowed) filtered by the allow-list; a new
 * object the caller owns. anthropic = Anthropic's shape. */
struct json_object *models_render(struct json_object *ids, const char *list,
				  int set, int anthropic);

#endif
