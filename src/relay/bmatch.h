/* bmatch.h - the pool's string work without I/O (issue 13): model names
 * against exact/glob lists, the client model -> upstream model mapping,
 * the splice that rewrites only the top-level "model" of a body, and the
 * backend a slot lock belongs to. Never allocates except into the caller's
 * buffer; reads only inside the given lengths (fuzzed: fuzz_bmatch.c). */
#ifndef RELAY_BMATCH_H
#define RELAY_BMATCH_H

#include <stddef.h>
#include "buf.h"

/* 1 when the n bytes of pattern match s: exact, '*' any run of bytes. */
int bmatch_glob(const char *pat, size_t n, const char *s);

/* 1 when model matches an entry of the comma list (spaces around entries
 * ignored). With map = 1 the entries are "pattern=target" (entries without
 * '=' never match) and the first match's target is copied into target
 * (cap bytes, may be NULL). */
int bmatch_list(const char *list, int map, const char *model, char *target, size_t cap);

/* body with the value of its top-level "model" member (a JSON string)
 * replaced by the JSON string of `model` into out (initialised by the
 * caller): 0, or -1 when there is no such plain string member the scanner
 * can see (the body is then to be sent unchanged). */
int bmatch_splice_model(const char *body, size_t len, const char *model, struct buf *out);

/* Backend id of a slot lock name: '<prefix>:slot:<i>' is 0 (the default),
 * '<prefix>:slot:<id>:<i>' is id. */
unsigned bmatch_lock_backend(const char *prefix, const char *lock);

#endif
