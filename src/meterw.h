/* meterw.h - one direct request's metering record as a self-contained
 * copy: what the metering thread (meterq.c) queues and what a web process
 * sends to bin/meterd (meterc.c -> meterd.c) as one datagram.
 *
 * In memory, fixed-size fields. On the wire (meterw_encode), the fixed part
 * and then only the strings' bytes: a record is a few hundred bytes
 * instead of 6 KiB, so a web process's socket holds ~150 of them, not 24,
 * while meterd is busy. meterw_decode checks every length against the
 * datagram and its field (fuzzed). Both ends are the same build; the
 * version word refuses a mixed install's records instead of misreading
 * them. */
#ifndef RELAY_METERW_H
#define RELAY_METERW_H

#include <stddef.h>
#include "meter.h"

#define METERW_VERSION 0x6d770002u   /* "mw", 2 */

struct meterw_rec {
	unsigned version;
	struct meter_rec m;        /* its pointers are not used: see meterw_view */
	int has_error, has_backend, has_slot;
	char model[256], error[1001], route[32], day[16], reqid[40];
	char slot[128], backend[4096];
};

/* The largest encoded record. */
#define METERW_WIRE_MAX (sizeof(struct meterw_rec) + 64)

/* Fills *w with a copy of m (strings cut at a character boundary to their
 * field), the slot lock the request held (NULL = none) and its request id
 * for the log. */
void meterw_fill(struct meterw_rec *w, const struct meter_rec *m, const char *slot,
		 const char *reqid);

/* *m = the record of w, its pointers into w (valid while w is). */
void meterw_view(const struct meterw_rec *w, struct meter_rec *m);

/* w on the wire into buf (METERW_WIRE_MAX bytes); returns its length. */
size_t meterw_encode(const struct meterw_rec *w, void *buf);

/* A received datagram: 0 and *w filled when p[0..n) is a whole encoded
 * record of this version, every string within its field and terminated,
 * and sane values, else -1. */
int meterw_decode(const void *p, size_t n, struct meterw_rec *w);

#endif
