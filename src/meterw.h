/* meterw.h - one direct request's metering record as a self-contained
 * copy: what the metering thread (meterq.c) queues and what a web process
 * sends to bin/meterd (meterc.c -> meterd.c) as one datagram.
 *
 * Fixed-size fields so a datagram is checked by its size and a NUL inside
 * every string field, nothing else (meterw_decode; fuzzed). Both ends are
 * the same build; the version word refuses a mixed install's records
 * instead of misreading them. */
#ifndef RELAY_METERW_H
#define RELAY_METERW_H

#include <stddef.h>
#include "meter.h"

#define METERW_VERSION 0x6d770001u   /* "mw", 1 */

struct meterw_rec {
	unsigned version;
	struct meter_rec m;        /* its pointers are not used: see meterw_view */
	int has_error, has_backend, has_slot;
	char model[256], error[1001], route[32], day[16], reqid[40];
	char slot[128], backend[4096];
};

/* Fills *w with a copy of m (strings cut at a character boundary to their
 * field), the slot lock the request held (NULL = none) and its request id
 * for the log. */
void meterw_fill(struct meterw_rec *w, const struct meter_rec *m, const char *slot,
		 const char *reqid);

/* *m = the record of w, its pointers into w (valid while w is). */
void meterw_view(const struct meterw_rec *w, struct meter_rec *m);

/* A received datagram: 0 and *w filled when p[0..n) is a whole record of
 * this version with every string terminated and sane values, else -1. */
int meterw_decode(const void *p, size_t n, struct meterw_rec *w);

#endif
