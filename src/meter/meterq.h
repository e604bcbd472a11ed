/* meterq.h - a direct request's metering after its answer, on a thread of
 * its own, so it is not on the next request's path.
 *
 * Why: a web server hands a process its next request as soon as the last
 * answer ended (lighttpd picks the first idle process: at one connection
 * every request lands on the same one). The finish after the answer
 * (relay_finish: the log row, one durable commit) then delays the next
 * request by its whole time: measured, +1.55 ms added p50 at one
 * connection with it, +0.62 ms without.
 *
 * How, with nothing lost or counted twice: the request's item (a copy) goes
 * to the metering thread, which has its own MariaDB connection and first
 * asks for the request's liveness lock (GET_LOCK '<prefix>:req:<id>',
 * waiting); the request's connection then lets go of its locks (slot,
 * user cap, request) in one statement, so the lock passes straight to the
 * metering connection and no sweep takes the entry for dead; then the
 * thread runs relay_finish, which wakes the next waiter (the slot is free
 * by then) and writes the row. A process that dies with items queued
 * leaves their in-flight entries to the sweep, as a process that died in
 * its finish always did. Bounded: a full queue makes the request wait, as
 * the inline finish did. */
#ifndef RELAY_METERQ_H
#define RELAY_METERQ_H

#include "meter.h"

struct cfg;
struct meterq;

/* Starts the thread (its connection is made at its first item). NULL when
 * it cannot start: the caller meters inline. `c` must outlive it. */
struct meterq *meterq_new(const struct cfg *c);

/* Queues a copy of m (a direct request's: an admission id, no queue row);
 * slot = the slot lock the request held, or NULL. Waits while the queue
 * is full. The caller then releases its connection's locks. */
void meterq_submit(struct meterq *q, const struct meter_rec *m, const char *slot);

/* One handed-over record, metered the way the thread does it: the
 * request's liveness lock first (waiting for its web process to let go),
 * then relay_finish (bin/meterd's way for what its batch cannot take). */
struct db;
struct meterw_rec;
void meterq_record(struct db *db, const struct cfg *c, const struct meterw_rec *w);

/* Meters what is queued, stops the thread, frees. NULL is fine. */
void meterq_free(struct meterq *q);

#endif
