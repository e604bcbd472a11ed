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

#define METERW_VERSION 0x6d770004u   /* "mw", 4 */

/* What a record is (meterd.h):
 * HANDED  a request whose in-flight entry was handed to meterd's lock
 *         (relay_handover; the entry is in MariaDB), numbered
 *         and acknowledged as FINs are;
 * REG     the registration of a request admitted on the fast path, whose
 *         in-flight entry lives in meterd only: its tombstone, the row
 *         to write should the web process end before its FIN;
 * FIN     that request's finish (seq numbers a process's HANDED and FIN
 *         records; meterd acknowledges them once durable);
 * TOMB    meterd's own: a registration whose process ended (or moved on)
 *         without its FIN; never on the wire. */
enum meterw_kind { METERW_HANDED = 1, METERW_REG, METERW_FIN, METERW_TOMB };

struct meterw_rec {
	unsigned version;
	unsigned kind;             /* enum meterw_kind */
	unsigned long long seq;    /* HANDED, FIN: the process's count, from 1 */
	struct meter_rec m;        /* its pointers are not used: see meterw_view */
	int has_error, has_backend, has_slot;
	char model[256], error[1001], route[32], day[16], reqid[40];
	char slot[128], backend[4096];
};

/* The largest encoded record. */
#define METERW_WIRE_MAX (sizeof(struct meterw_rec) + 64)

/* Fills *w with a copy of m (strings cut at a character boundary to their
 * field), the slot lock the request held (NULL = none) and its request id
 * for the log; kind HANDED, seq 0 (the caller sets both). */
void meterw_fill(struct meterw_rec *w, const struct meter_rec *m, const char *slot,
		 const char *reqid);

/* *m = the record of w, its pointers into w (valid while w is). */
void meterw_view(const struct meterw_rec *w, struct meter_rec *m);

/* w on the wire into buf (METERW_WIRE_MAX bytes); returns its length. */
size_t meterw_encode(const struct meterw_rec *w, void *buf);

/* A received datagram: 0 and *w filled when p[0..n) is a whole encoded
 * record of this version and of a kind that travels (REG without a seq,
 * HANDED and FIN with one), every string within its field and terminated,
 * and sane values, else -1. */
int meterw_decode(const void *p, size_t n, struct meterw_rec *w);

/* meterd's answer to a process: every numbered record (HANDED, FIN) of
 * this connection up to seq is done with (durable, or given up and
 * logged). */
#define METERW_ACK_MAGIC 0x6b63616du   /* "mack" */
struct meterw_ack {
	unsigned magic;
	unsigned zero;
	unsigned long long seq;
};

#endif
