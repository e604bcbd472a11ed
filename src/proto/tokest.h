/* tokest.h - a local input-token estimate for POST /v1/messages/count_tokens
 * when the upstream has no such endpoint (answered with X-Relay-Estimate: 1).
 *
 * Rough by design (no tokenizer is shipped): every string value in the body
 * except the model name counts ASCII bytes / 4 (rounded up) plus one token per
 * non-ASCII character (CJK text is about one token a character), and each
 * message/tool/block object adds 3 for its framing. Clients only use it to
 * decide when to compact a conversation. */
#ifndef RELAY_TOKEST_H
#define RELAY_TOKEST_H

#include <stddef.h>

/* Estimate for len bytes of a JSON request body (borrowed). -1 when it is
 * not a JSON object (or nests deeper than FMT_MAX_DEPTH). */
long long tokest_count(const char *body, size_t len);

/* The estimate for a text of n bytes alone (the per-string rule above). */
long long tokest_text(const char *s, size_t n);

#endif
