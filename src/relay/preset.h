/* preset.h - the provider presets (issue 28): one table in C for
 * relayctl backend add --preset, the console's backends page, the
 * GET /api/catalog route and the routes' endpoint-group check. Each preset
 * says its protocol (which format base URLs it has), its auth type, its
 * docs and what each endpoint group does on it. */
#ifndef RELAY_PRESET_H
#define RELAY_PRESET_H

/* A provider preset: base URL per format and the key header. */
struct bk_preset {
	const char *name;
	const char *openai_url;     /* NULL = no OpenAI-format endpoint */
	const char *anthropic_url;  /* NULL = no Anthropic-format endpoint */
	const char *label;
	const char *auth;           /* NULL = by format (bearer / x-api-key) */
	const char *docs_url;
	/* per endpoint group of bk_groups[] in order: 'p' passthrough, 't'
	 * translate (the relay converts), 'u' unsupported */
	const char *support;
};

/* The endpoint groups of bk_preset.support, NULL-terminated: chat,
 * messages, responses, embeddings, completions, models, count_tokens,
 * gemini. */
extern const char *const bk_groups[];

/* The preset named name (case-insensitive), or NULL. */
const struct bk_preset *bk_preset_find(const char *name);
/* All presets, terminated by a NULL name. */
extern const struct bk_preset bk_presets[];

/* Index of an endpoint group in bk_groups[] (a route's name: "chat",
 * "embeddings", ...), or -1. */
int bk_group_index(const char *group);

/* Whether the preset's OpenAI endpoint serves /responses itself: "yes",
 * "no" (chat-only: the relay translates), or NULL (unknown: the backend
 * starts as "auto" and the relay learns it). Issue 26. */
const char *bk_preset_responses(const char *preset);

/* What preset (by name) does with group: 'p', 't', 'u', or 0 when the
 * preset or the group is unknown (nothing to say: let it through). */
char bk_preset_support(const char *preset, const char *group);

#endif
