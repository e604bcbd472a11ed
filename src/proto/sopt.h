/* sopt.h - asks an OpenAI stream for its usage: splices
 * "stream_options":{"include_usage":true} into a request body.
 *
 * OpenAI-compatible upstreams send no usage in a stream unless the request
 * says stream_options.include_usage, so such a request would be metered as
 * 0 tokens. The splice is the smallest edit of the client's bytes that
 * makes the upstream report usage; everything else stays byte for byte.
 * The scanner never allocates beyond the output buffer and reads only
 * inside [body, body + len). */
#ifndef RELAY_SOPT_H
#define RELAY_SOPT_H

#include <stddef.h>
#include "buf.h"

/* What sopt_splice did. */
enum sopt_result {
	SOPT_ASKED = 0,     /* the client asked for usage itself: unchanged */
	SOPT_ADDED = 1,     /* out holds the spliced body: the relay asked, so
			       the usage-only chunk is not the client's */
	SOPT_UNSURE = -1    /* not a JSON object even to json-c's lenient
			       mode (or out of memory): the caller must not
			       send it (relay.c refuses it with 400) */
};

/* Writes the spliced body into the caller's `out` (initialised by the
 * caller, who frees it) when the result is SOPT_ADDED; `out` is left empty
 * otherwise. `body` is borrowed. The splice edits the client's bytes where
 * the scanner can follow them (keys compared decoded, jkeys.h); otherwise
 * out is the body json-c parsed, written anew with include_usage true. */
enum sopt_result sopt_splice(const char *body, size_t len, struct buf *out);

/* 1 if an SSE data payload is the chunk that include_usage adds: a JSON
 * object whose "choices" is an empty array and whose "usage" is an
 * object. Borrows `json`. */
int sopt_usage_only(const char *json, size_t len);

/* In the top-level object of body, the span [*vs, *ve) of the value of
 * the last member whose key is `key` once decoded (as json-c reads keys
 * and keeps the last of duplicates). 1 found, 0 not there, -1 not an object the scanner can
 * follow. Used by the model mapping (backend.c). */
int sopt_top_member(const char *body, size_t len, const char *key,
		    size_t *vs, size_t *ve);

#endif
