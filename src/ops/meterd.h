/* meterd.h - bin/meterd: the metering daemon of a host.
 *
 * Why: a direct request's finish is one durable commit of one log row, and
 * MariaDB's cost is per statement and per commit, not per row (measured:
 * relay_finish 0.62 ms of mariadbd CPU per request; 16 rows in one batch
 * 0.16 ms each). Each web process has its own metering thread
 * (meterq.h), but at any load the requests spread over many processes, so
 * no process has more than one to write at a time. One daemon per host
 * collects them all and writes everything that came in within
 * meter_batch_ms (or while the last batch was written) with one CALL
 * relay_finish_batch (sql/routines/relay_finish_batch.sql): one commit for
 * the whole batch.
 *
 * Registered requests (the fast path, admit.h: a user without a daily
 * request limit or a cap, nobody waiting, the default backend): the
 * admission writes nothing; the request's in-flight entry is its
 * registration here (REG, its tombstone), kept per client (a web process
 * has at most one request in flight). Its FIN closes it and is written in
 * a batch like any record; the client keeps every FIN until meterd
 * acknowledges it (after the batch's commit, or after relay_finish gave up
 * on it), so a meterd that dies loses no finished request: its processes
 * write what was not acknowledged themselves (meterc.h). A client whose
 * socket ends with a registration open (its process died mid-request), or
 * that registers the next request without finishing the last, gets the
 * tombstone written: one row, HTTP 500, relay_swept_why(), as a dead
 * relay's request always got; a late finish replaces it. Nothing in
 * MariaDB counts such a request before its row (no limit to hold it
 * against), so nothing there needs to see it in flight.
 *
 * Handed requests (everyone else): a request counts against the limits
 * by its in-flight entry until the commit that writes its row (relay_settle),
 * wherever that happens. The web process first hands the entry to meterd
 * (relay_handover: the entry goes under meterd's own named lock,
 * held by a connection of its own) and lets go of its locks, then sends
 * the record (meterc.h). So an entry is always under a live lock and no
 * sweep takes it for dead, and a batch waits for no one's lock. What the
 * batch cannot take (the entry gone after a MariaDB restart or a sweep, a
 * database error) goes through relay_finish one by one, which handles
 * every such case. While the database is unreachable a batch waits (up to
 * 2 minutes) rather than fail. Handed records are numbered and
 * acknowledged as FINs are. If meterd dies with records not yet written,
 * its lock goes with its connection and their entries are swept as a dead
 * process's are (one row each, HTTP 500 "relay process ended before
 * metering"), and each web process writes the records it kept, which
 * replaces those rows with the real outcome. An entry handed over whose
 * record never came (its web process died in between) is swept by meterd
 * after 2 minutes. On
 * SIGTERM/SIGINT it stops taking records (web processes then meter on
 * their own), writes what it has and what is still in its sockets,
 * acknowledges it, and exits; the registrations still open belong to live
 * requests, whose processes move their entries to MariaDB.
 *
 * Two threads: the reader takes records from every client fairly, a few
 * at a time, into a queue; the writer writes batches out of it. Reading
 * never waits for the database, and while a batch is written the next
 * one grows: the busier the host, the fewer and larger the commits.
 *
 * Access: the socket (meter_socket) is made mode 0666 and every connection
 * is checked by its peer's uid: root, meterd's own user or
 * meter_peer_user. A datagram "STAT" is answered with the daemon's state
 * (open registrations, records queued, a batch being written), for the
 * tests and the benchmark to know when everything is written. */
#ifndef RELAY_METERD_H
#define RELAY_METERD_H

struct app;

struct meterd_opts {
	int verbose;    /* a line per batch */
};

/* Serves until SIGTERM/SIGINT; 0 on a clean stop (or when another meterd
 * serves the socket already), 1 if the socket could not be made. */
int meterd_run(struct app *a, const struct meterd_opts *o);

#endif
