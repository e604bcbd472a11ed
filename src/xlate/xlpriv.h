/* xlpriv.h - json-c helpers shared inside the translation module (xlate.c,
 * xlreq.c, xlresp.c, xsse.c); not part of its interface.
 *
 * Getters return borrowed pointers (NULL when absent or of another type).
 * xl_add/xl_push take over the value they are given, freeing it if the
 * container refuses it; xl_add_ref shares a borrowed value by reference
 * count (the input and the output then both hold it). */
#ifndef RELAY_XLPRIV_H
#define RELAY_XLPRIV_H

#include <json-c/json.h>
#include "buf.h"
#include "err.h"

struct json_object *xl_get(struct json_object *o, const char *key);
const char *xl_str(struct json_object *o, const char *key);
int xl_is(struct json_object *o, enum json_type t);
int xl_streq(const char *a, const char *b);
long long xl_int(struct json_object *o, const char *key);
/* A token count at key: xl_int, a negative one as 0 (an upstream may
 * send any number; sums of counts stay clear of overflow). */
long long xl_count(struct json_object *o, const char *key);
int xl_add(struct json_object *o, const char *key, struct json_object *v);
int xl_add_ref(struct json_object *o, const char *key, struct json_object *v);
/* The first element of an array (borrowed), NULL for anything else. */
struct json_object *xl_first(struct json_object *arr);
int xl_push(struct json_object *arr, struct json_object *v);
enum relay_err xl_join_text(struct json_object *c, const char *sep,
			    struct buf *b, int *skipped);
/* A new string object with b's bytes (caller owns it). */
struct json_object *xl_buf_string(const struct buf *b);

/* Largest text a translation joins into one string (a system prompt, a
 * tool result): far above any real prompt, below fmt's body cap. */
#define XL_TEXT_MAX (64u * 1024 * 1024)

/* OpenAI finish_reason <-> Anthropic stop_reason (static strings). */
const char *xl_stop_to_finish(const char *stop_reason);
const char *xl_finish_to_stop(const char *finish_reason);

/* Anthropic token counts -> a new OpenAI usage object (prompt includes the
 * cache tokens, like OpenAI's; cached_tokens = the cache reads). */
struct json_object *xl_usage_a2o(long long in, long long out, long long cc,
				 long long cr);

/* Responses API pieces shared by xlrs.c and xrsse.c (new objects; the
 * envelope takes over output and usage). status is the Responses status
 * for a Chat finish_reason. */
struct json_object *xlrs_usage_obj(long long in, long long out, long long cached,
				   long long reasoning);
struct json_object *xlrs_envelope(const char *id, long long created, const char *model,
				  const char *status, const char *finish,
				  struct json_object *output, struct json_object *usage);
const char *xlrs_status(const char *finish);
struct json_object *xlrs_text_item(const char *type, const char *id,
				   const char *text, size_t len);
struct json_object *xlrs_call_item(const char *call_id, const char *name,
				   const char *args, size_t len);

#endif
