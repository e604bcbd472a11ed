/* meterc.h - a web process's side of bin/meterd (meterd.h): a direct
 * request's record handed to the host's metering daemon.
 *
 * One SOCK_SEQPACKET connection per process, made at its first record and
 * kept; on it meterd first sends its lock's name (the hello). The hand-off
 * is: the request's in-flight entry is put under meterd's lock and the
 * process lets go of its own locks (sql/020 relay_handover), then the
 * record goes as one datagram (meterw.h). From the handover on, the entry
 * lives as long as meterd's lock connection does, so nothing waits for a lock
 * between here and meterd's batch. Anything else (no daemon, a socket that
 * stays full for MC_SEND_TIMEOUT_MS, a restart) returns -1 and the caller
 * meters on its own (relay_finish takes an entry under either lock); after
 * a failure the socket is not tried again for a second, so a missing
 * daemon costs one connect per second, not one per request. */
#ifndef RELAY_METERC_H
#define RELAY_METERC_H

#include "meter.h"

struct cfg;
struct db;
struct meterc;

/* NULL when cfg has no meter_socket (or out of memory). */
struct meterc *meterc_new(const struct cfg *c);

/* Hands m (its request holding `slot`, NULL = none) to meterd: 0 = done,
 * and the connection's named locks are let go; -1 = not (the caller
 * meters, and lets go of them itself). */
int meterc_hand(struct meterc *mc, struct db *db, const struct meter_rec *m,
		const char *slot);

void meterc_free(struct meterc *mc);

#endif
