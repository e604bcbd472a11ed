/* meterc.h - a web process's side of bin/meterd (meterd.h): a direct
 * request's record handed to the host's metering daemon.
 *
 * One SOCK_SEQPACKET connection per process, made at its first record and
 * kept. A record is one datagram (meterw.h): when send() returns, the
 * record is in meterd's socket, so the caller may let go of its locks (the
 * daemon asks for the request's liveness lock, as the metering thread
 * does). Anything else (no daemon, a socket that stays full for 2 s,
 * a restart) returns -1 and the caller meters on its own; after a failure
 * the socket is not tried again for a second, so a missing daemon costs
 * one connect per second, not one per request. */
#ifndef RELAY_METERC_H
#define RELAY_METERC_H

#include "meter.h"

struct cfg;
struct meterc;

/* NULL when cfg has no meter_socket (or out of memory). */
struct meterc *meterc_new(const struct cfg *c);

/* 0 = handed over; -1 = not (the caller meters). */
int meterc_send(struct meterc *mc, const struct meter_rec *m, const char *slot);

void meterc_free(struct meterc *mc);

#endif
