/* meterc.h - a web process's side of bin/meterd (meterd.h).
 *
 * One SOCK_SEQPACKET connection per process, made when first needed and
 * kept; on it meterd first sends its lock's name (the hello), later its
 * acknowledgements. Two ways a direct request gets to meterd:
 *
 * Registered (the fast path, admit.h): the admission wrote nothing; the
 * request's in-flight entry is its registration with meterd (a REG
 * datagram carrying its tombstone: the row to write should this process
 * end before the finish). The finish sends the record (FIN, numbered),
 * then lets go of the slot (relay_let_go). The process keeps each FIN
 * until meterd acknowledges it as durable, so a meterd that dies loses
 * nothing: the process writes what was not acknowledged itself
 * (relay_finish, which finds a row already there by the admission id).
 * If meterd goes away while the request is in flight, the entry moves to
 * MariaDB (relay_rebind) and the request ends as any other.
 *
 * Handed (every other direct request): the request's in-flight
 * entry is put under meterd's lock and the process lets go of its own
 * locks (relay_handover), then the record goes (HANDED, numbered and kept
 * as a FIN is). From the handover on, the entry lives as long as meterd's
 * lock connection does; should meterd die first, a sweep writes a 500 for
 * it and the process's own write of the kept record replaces that row.
 *
 * Anything else (no daemon, a socket that stays full for
 * MC_SEND_TIMEOUT_MS, a restart) returns -1 and the caller meters on its
 * own; after a failure the socket is not tried again for a second, so a
 * missing daemon costs one connect per second, not one per request. */
#ifndef RELAY_METERC_H
#define RELAY_METERC_H

#include "meter.h"

struct cfg;
struct db;
struct meterc;

/* NULL when cfg has no meter_socket (or out of memory). */
struct meterc *meterc_new(const struct cfg *c);

/* Before an admission, holding no named lock: reads meterd's
 * acknowledgements, writes what a lost meterd left unacknowledged (on db),
 * connects if needed. 1 when a request may be registered (connected, room
 * for its FIN among the records kept), else 0. */
int meterc_ready(struct meterc *mc, struct db *db);

/* Whether a bin/meterd serves the socket at path: 1 yes, 0 no (nothing
 * there, or nobody accepting), -1 no path configured. For status.php and
 * /metrics: a relay without meterd works, on the slower path. */
int meterc_probe(const char *path);

/* Registers the admitted request whose tombstone is m (its admission id,
 * user, key, day, format, model, route; status and error are meterd's to
 * fill). 0 = registered; -1 = not (nothing sent, or meterd gone). */
int meterc_register(struct meterc *mc, const struct meter_rec *m);

/* 1 while admission id `admit_id` is registered with a live meterd. */
int meterc_holds(const struct meterc *mc, long long admit_id);

/* During a registered request's exchange (its tick): 0 while its
 * registration stands, -1 when meterd went away (the caller moves the
 * entry to MariaDB). */
int meterc_check(struct meterc *mc);

/* The finish of a registered request: its record to meterd, then every
 * named lock of the connection let go and the next waiter woken
 * (relay_let_go). 0 = done; -1 = the record did not go (the caller meters
 * on its own and lets go of its locks). */
int meterc_finish(struct meterc *mc, struct db *db, const struct meter_rec *m);

/* Hands m (its request holding `slot`, NULL = none) to meterd: 0 = done,
 * and the connection's named locks are let go; -1 = not (the caller
 * meters, and lets go of them itself). */
int meterc_hand(struct meterc *mc, struct db *db, const struct meter_rec *m,
		const char *slot);

/* Between requests (web_set_idle): the fd whose end to watch while
 * records wait for their acknowledgement, else -1; a meterd found gone
 * meanwhile has its unacknowledged records written here first (on db). */
int meterc_idle_fd(struct meterc *mc, struct db *db);
/* That fd ended (or fired): reads the acknowledgements, and writes what a
 * meterd that ended left unacknowledged. */
void meterc_idle(struct meterc *mc, struct db *db);

/* Waits a little for the last acknowledgements, writes (on db, may be
 * NULL) what is still unacknowledged, frees. NULL is fine. */
void meterc_free(struct meterc *mc, struct db *db);

#endif
