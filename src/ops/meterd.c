/* meterd.c - the host's metering daemon (see meterd.h). */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "app.h"
#include "db.h"
#include "log.h"
#include "meterd.h"
#include "meterq.h"
#include "meterw.h"

/* The writer takes a batch as soon as this many records wait (or the
 * oldest has waited meter_batch_ms), and up to MD_BATCH_MAX at once: while
 * it writes, records pile up, and a bigger batch costs less per record, so
 * the daemon keeps up by writing fewer, larger commits. */
#define MD_BATCH 64
#define MD_BATCH_MAX 256
/* Records between the reader and the writer (about 6 KiB each). When it is
 * full the reader stops reading: the web processes' sockets fill, and
 * their senders meter on their own after meterc's short timeout. */
#define MD_QUEUE 2048
/* Records taken from one client per round, the round starting at the next
 * client each time: reading every client to its end from the first one on
 * starved the last ones under load (their senders sat out the whole send
 * timeout with a full socket while the batches filled from the others). */
#define MD_PER_CLIENT 4
#define MD_MAX_FDS 4096
/* fds[0] is the listening socket, fds[1] the writer's doorbell (an
 * eventfd: acknowledgements to send); clients from MD_FIRST on. */
#define MD_FIRST 2
/* The reader's pause between rounds (md_round). */
#define MD_PAUSE_US 1000
/* An entry handed over this long ago without its record is an orphan. */
#define MD_ORPHAN_S 120
#define MD_ORPHAN_EVERY_S 10
/* How long a batch waits for an unreachable database. */
#define MD_DB_WAIT_S 120    /* a scan of the (small) MEMORY table */

/* A client (a web process), beside its pollfd. A process has at most one
 * request in flight, so at most one registration (the fast path): its
 * tombstone, written should the process end (or move on) without the
 * request's FIN. */
struct mdc {
	unsigned long long id;       /* unique for meterd's life */
	struct meterw_rec *reg;      /* owned; allocated at its first REG */
	int reg_open;
	unsigned long long done;     /* its highest record acknowledged */
};

/* "Every numbered record of client cid up to seq is done with." */
struct md_ack {
	unsigned long long cid, seq;
};

/* Two threads: the reader (the main thread: sockets, into q) and the
 * writer (out of q, into the database). The reading never waits for the
 * database, so a web process's send finds room even while a batch is
 * being committed. Only the reader touches client sockets: the writer's
 * acknowledgements go through `acks` and the doorbell. */
struct md {
	struct app *a;               /* its db: the writer's only */
	const struct meterd_opts *o;
	struct pollfd *fds;          /* [0] the listening socket, [1] the doorbell */
	struct mdc *cl;              /* beside fds (from MD_FIRST on) */
	unsigned nfds;
	unsigned next;               /* the client a round starts at */
	unsigned long long next_cid;
	unsigned nopen;              /* registrations open (the reader's) */
	unsigned long long stat[8];  /* clients that asked STAT this round */
	unsigned nstat;
	uid_t peer_uid;              /* meter_peer_user's, or (uid_t)-1 */
	char lock[80];               /* '<prefix>:md:<random>': held by
					lockdb, named to every client (the
					hello) */
	size_t lock_len;
	struct db *lockdb;           /* the connection that holds it */
	unsigned long long lock_gen; /* lockdb's generation when taken, 0 = not held */
	char swept[128];             /* relay_swept_why(), the tombstones'
					error; "" until read (the writer's) */

	pthread_mutex_t mu;          /* guards q, qcid, at, qhead, qlen,
					stopping, writing, acks, nacks */
	pthread_cond_t more, room;   /* for the writer, for the reader */
	struct meterw_rec *q;        /* ring of MD_QUEUE */
	unsigned long long *qcid;    /* whose each is */
	struct timespec *at;         /* when each came */
	unsigned qhead, qlen;
	int stopping;                /* no more records: write what is left */
	int writing;                 /* a batch is being written */
	struct md_ack *acks;         /* MD_MAX_FDS, for the reader to send */
	struct md_ack *acks_out;     /* the reader's copy */
	unsigned nacks;

	struct meterw_rec *b;        /* the writer's batch */
	unsigned long long *bcid;
	unsigned long long batches, records, rejected;
};

static volatile sig_atomic_t md_stop;

static void md_on_term(int sig)
{
	(void)sig;
	md_stop = 1;
}

/* The socket, taking over a stale one (a meterd that died) but never a
 * live one (-2 then; -1 on an error). */
static int md_listen(const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(sa.sun_path)) {
		log_error("meter_socket is too long (%zu bytes)", n);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno == EADDRINUSE) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			/* cron's watchdog line (cron/llm-relay) finds it running */
			log_info("meterd: another meterd serves %s; nothing to do", path);
			close(probe);
			close(fd);
			return -2;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			errno = 0;
	}
	if (errno || chmod(path, 0666) || listen(fd, SOMAXCONN)) {
		log_error("meter_socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int md_peer_ok(const struct md *d, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return 0;
	return cr.uid == 0 || cr.uid == getuid() || cr.uid == d->peer_uid;
}

static void md_accept(struct md *d)
{
	int fd;

	while ((fd = accept4(d->fds[0].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (!md_peer_ok(d, fd) || d->nfds >= MD_MAX_FDS) {
			log_warn("meterd: a connection refused (%s)",
				 d->nfds >= MD_MAX_FDS ? "too many" : "peer's user not allowed");
			close(fd);
			continue;
		}
		if (send(fd, d->lock, d->lock_len, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)d->lock_len) {
			close(fd);
			continue;
		}
		d->fds[d->nfds].fd = fd;
		d->fds[d->nfds].events = POLLIN;
		d->fds[d->nfds].revents = 0;
		d->cl[d->nfds].id = ++d->next_cid;
		d->cl[d->nfds].reg_open = 0;
		d->cl[d->nfds].done = 0;
		d->nfds++;
	}
}

/* *t + ms (0..1000), for the condition variables' deadlines */
static void md_add_ms(struct timespec *t, long ms)
{
	t->tv_nsec += ms * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static int md_full(struct md *d)
{
	int full;

	pthread_mutex_lock(&d->mu);
	full = d->qlen >= MD_QUEUE;
	pthread_mutex_unlock(&d->mu);
	return full;
}

/* Called with d->mu held and room in the queue: w (a copy) is queued
 * as client cid's. */
static void md_push_locked(struct md *d, const struct meterw_rec *w, unsigned long long cid)
{
	unsigned slot = (d->qhead + d->qlen) % MD_QUEUE;

	d->q[slot] = *w;
	d->qcid[slot] = cid;
	clock_gettime(CLOCK_MONOTONIC, &d->at[slot]);
	d->qlen++;
	pthread_cond_signal(&d->more);
}

/* Tells client i its highest numbered record done (an acknowledgement).
 * A full socket drops it: the next one says more, and a client that waits
 * for one asks (SYNC). */
static void md_ack(struct md *d, unsigned i)
{
	struct meterw_ack ack = { METERW_ACK_MAGIC, 0, d->cl[i].done };

	if (!ack.seq || d->fds[i].fd < 0)
		return;
	if (send(d->fds[i].fd, &ack, sizeof(ack), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		log_warn("meterd: an acknowledgement not sent: %s", strerror(errno));
}

/* Client i's open registration becomes a tombstone to write (its process
 * ended or moved on without the FIN); the queue has room. */
static void md_tomb(struct md *d, unsigned i)
{
	struct mdc *c = &d->cl[i];

	if (!c->reg_open)
		return;
	c->reg_open = 0;
	d->nopen--;
	c->reg->kind = METERW_TOMB;
	pthread_mutex_lock(&d->mu);
	md_push_locked(d, c->reg, c->id);
	pthread_mutex_unlock(&d->mu);
}

/* A registration (the fast path): kept until its FIN, replacing one left
 * open. */
static int md_register(struct md *d, unsigned i, const struct meterw_rec *w)
{
	struct mdc *c = &d->cl[i];

	if (!c->reg && !(c->reg = malloc(sizeof(*c->reg)))) {
		log_warn("meterd: no memory for a registration");
		return -1;
	}
	md_tomb(d, i);
	*c->reg = *w;
	c->reg_open = 1;
	d->nopen++;
	return 0;
}

/* One datagram of client i: a record is queued (HANDED, FIN) or kept
 * (REG). -1 when malformed. */
static int md_take(struct md *d, unsigned i, const unsigned char *raw, size_t n)
{
	static struct meterw_rec w;
	struct mdc *c = &d->cl[i];

	if (n == 4 && memcmp(raw, "SYNC", 4) == 0) {
		md_ack(d, i);   /* its last acknowledgement again */
		return 0;
	}
	if (n == 4 && memcmp(raw, "STAT", 4) == 0) {
		if (d->nstat < sizeof(d->stat) / sizeof(d->stat[0]))
			d->stat[d->nstat++] = c->id;
		return 0;
	}
	if (meterw_decode(raw, n, &w))
		return -1;
	if (w.kind == METERW_REG)
		return md_register(d, i, &w);
	if (w.kind == METERW_FIN && c->reg_open && c->reg->m.admit_id == w.m.admit_id) {
		c->reg_open = 0;
		d->nopen--;
	}
	pthread_mutex_lock(&d->mu);
	md_push_locked(d, &w, c->id);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

/* Reads up to MD_PER_CLIENT datagrams client i has ready: 0 when the
 * client hung up, 2 when its socket is empty, 3 when the queue is full,
 * else 1. Each datagram queues at most one record, so one free place
 * before each read is enough. */
static int md_read(struct md *d, unsigned i)
{
	static unsigned char raw[METERW_WIRE_MAX];
	ssize_t n;

	for (int k = 0; k < MD_PER_CLIENT; k++) {
		if (md_full(d))   /* only the reader makes it grow */
			return 3;
		n = recv(d->fds[i].fd, raw, sizeof(raw), MSG_DONTWAIT | MSG_TRUNC);
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 2 : 0;
		if ((size_t)n > sizeof(raw) || md_take(d, i, raw, (size_t)n)) {
			d->rejected++;
			log_warn("meterd: a malformed record of %zd bytes dropped", n);
		}
	}
	return 1;
}

/* Waits (a little) until the writer has made room in the queue. */
static void md_wait_room(struct md *d)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	md_add_ms(&t, 100);
	pthread_mutex_lock(&d->mu);
	if (d->qlen >= MD_QUEUE)
		pthread_cond_timedwait(&d->room, &d->mu, &t);
	pthread_mutex_unlock(&d->mu);
}

/* Client i hung up: a registration it left open is its process's end
 * before the request's FIN (the tombstone is written); then it goes. */
static void md_gone(struct md *d, unsigned i)
{
	if (d->cl[i].reg_open) {
		while (md_full(d))
			md_wait_room(d);
		md_tomb(d, i);
	}
	close(d->fds[i].fd);
	d->fds[i].fd = -1;
}

/* Drops the clients marked gone (fd -1), keeping cl beside fds. */
static void md_compact(struct md *d)
{
	for (unsigned i = MD_FIRST; i < d->nfds;) {
		if (d->fds[i].fd >= 0) {
			i++;
			continue;
		}
		free(d->cl[i].reg);
		d->nfds--;
		d->fds[i] = d->fds[d->nfds];
		d->cl[i] = d->cl[d->nfds];
		d->cl[d->nfds].reg = NULL;
	}
}

/* Reads the clients poll found ready, fairly (MD_PER_CLIENT): from
 * d->next on, wrapping; a client not reached keeps its data for the next
 * round's poll to report again. Hung-up clients are dropped after. */
static void md_read_round(struct md *d)
{
	unsigned nc = d->nfds - MD_FIRST, k;

	for (k = 0; k < nc; k++) {
		unsigned i = MD_FIRST + (d->next + k) % nc;
		int r;

		if (!d->fds[i].revents)
			continue;
		d->fds[i].revents = 0;
		if ((r = md_read(d, i)) == 0)
			md_gone(d, i);
		else if (r == 3)
			break;
	}
	d->next = nc ? (d->next + k) % nc : 0;
	md_compact(d);
}

/* The writer's acknowledgements, sent: each client learns which of its
 * records are durable (meterc.h keeps them until then). */
static void md_send_acks(struct md *d)
{
	struct md_ack *a = d->acks_out;
	unsigned long long bell;
	unsigned n;

	if (read(d->fds[1].fd, &bell, sizeof(bell)) < 0 && errno != EAGAIN)
		log_warn("meterd: its doorbell: %s", strerror(errno));
	pthread_mutex_lock(&d->mu);
	n = d->nacks;
	memcpy(a, d->acks, n * sizeof(a[0]));
	d->nacks = 0;
	pthread_mutex_unlock(&d->mu);
	for (unsigned k = 0; k < n; k++)
		for (unsigned i = MD_FIRST; i < d->nfds; i++) {
			if (d->cl[i].id != a[k].cid)
				continue;
			if (a[k].seq > d->cl[i].done)
				d->cl[i].done = a[k].seq;
			md_ack(d, i);
			break;
		}
}

/* "STAT": the state, for the tests and the benchmark: idle = nothing
 * open, queued or being written. Answered at the end of the round, after
 * every client's socket was read to its end: a web process registers its
 * request before its client gets the answer, so whoever asks after that
 * answer finds the registration counted. */
static void md_stat_answer(struct md *d)
{
	char out[200];
	int n;

	for (unsigned i = MD_FIRST; i < d->nfds; i++) {
		int r;

		while (d->fds[i].fd >= 0 && (r = md_read(d, i)) != 2) {
			if (r == 0)
				md_gone(d, i);
			else if (r == 3)
				md_wait_room(d);
		}
	}
	md_compact(d);
	pthread_mutex_lock(&d->mu);
	n = snprintf(out, sizeof(out), "open=%u queued=%u writing=%d records=%llu batches=%llu",
		     d->nopen, d->qlen, d->writing, d->records, d->batches);
	pthread_mutex_unlock(&d->mu);
	for (unsigned k = 0; k < d->nstat; k++)
		for (unsigned i = MD_FIRST; i < d->nfds; i++)
			if (d->cl[i].id == d->stat[k] &&
			    send(d->fds[i].fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
				log_warn("meterd: a STAT answer not sent");
	d->nstat = 0;
}

/* One round of the reader: waits for records (a second at most), reads
 * them, then pauses MD_PAUSE_US before the next poll. Two datagrams come
 * per request (REG, FIN): read as they come, every one of them woke this
 * thread, and every sender paid for waking it. Paused, the reader finds
 * several waiting at each round, and a sender whose datagram lands while
 * nobody polls wakes nobody. A record waits at most the pause longer;
 * nothing waits on a REG. */
static void md_round(struct md *d)
{
	static const struct timespec pause = { 0, MD_PAUSE_US * 1000L };

	if (md_full(d))
		md_wait_room(d);
	if (poll(d->fds, d->nfds, 1000) < 0 && errno != EINTR)
		log_warn("meterd: poll: %s", strerror(errno));
	nanosleep(&pause, NULL);
	if (d->nfds > MD_FIRST)   /* what came during the pause, too */
		poll(d->fds, d->nfds, 0);
	if (d->fds[0].revents & POLLIN)
		md_accept(d);
	if (d->fds[1].revents & POLLIN)
		md_send_acks(d);
	d->fds[0].revents = d->fds[1].revents = 0;
	md_read_round(d);
	if (d->nstat)
		md_stat_answer(d);
}

/* At the stop: no new records (a sender's next send fails and it meters
 * itself), then everything already in the sockets. The end of a socket
 * here is the shutdown's, not its process's: registrations still open
 * belong to requests still running (their processes, finding meterd
 * gone, move their entries to MariaDB), so no tombstone is written. */
static void md_drain(struct md *d)
{
	for (unsigned i = MD_FIRST; i < d->nfds; i++)
		shutdown(d->fds[i].fd, SHUT_RD);
	for (unsigned i = MD_FIRST; i < d->nfds; i++) {
		int r;

		while ((r = md_read(d, i)) == 1 || r == 3)
			if (r == 3)
				md_wait_room(d);
	}
}

/* After the writer's last batch: its acknowledgements (so the processes
 * need not write those records again), then the sockets close. */
static void md_close_all(struct md *d)
{
	md_send_acks(d);
	for (unsigned i = MD_FIRST; i < d->nfds; i++) {
		close(d->fds[i].fd);
		d->fds[i].fd = -1;
	}
	md_compact(d);
}

/* Had failed tries (a failover): relay_finish writes those as
 * request_tries rows, the batch does not. */
static int md_has_tries(struct json_object *b)
{
	struct json_object *t;

	return b && json_object_object_get_ex(b, "tries", &t) &&
	       json_object_is_type(t, json_type_array) && json_object_array_length(t) > 0;
}

static void md_add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void md_add_int(struct json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

/* The batch's item for w (relay_finish_batch's p_items), or NULL when w
 * must go through relay_finish. */
static struct json_object *md_item(const struct meterw_rec *w)
{
	struct json_object *o, *b = NULL;
	struct meter_rec m;

	meterw_view(w, &m);
	if (m.backend && (!(b = json_tokener_parse(m.backend)) || md_has_tries(b) ||
			  !json_object_is_type(b, json_type_object))) {
		json_object_put(b);
		return NULL;
	}
	o = json_object_new_object();
	md_add_int(o, "a", m.admit_id);
	if (w->kind != METERW_HANDED)
		md_add_int(o, "g", 1);   /* registered: no entry in MariaDB */
	md_add_int(o, "u", m.user_id);
	md_add_int(o, "k", m.key_id);
	md_add_str(o, "f", fmt_name(m.fmt));
	md_add_str(o, "m", m.model);
	md_add_int(o, "s", m.stream ? 1 : 0);
	md_add_int(o, "st", m.http_status);
	md_add_int(o, "p", usage_prompt(&m.usage));
	md_add_int(o, "c", usage_completion(&m.usage));
	md_add_int(o, "t", usage_total(&m.usage));
	md_add_int(o, "kn", m.usage.found == 2 ? 2 : m.usage.found ? 1 : 0);
	md_add_int(o, "l", m.latency_ms < 0 ? 0 : m.latency_ms);
	if (m.error)
		md_add_str(o, "e", m.error);
	md_add_str(o, "r", m.route ? m.route : "call");
	if (m.day)
		md_add_str(o, "d", m.day);
	if (b)
		json_object_object_add(o, "b", b);
	return o;
}

/* In the comma-separated id list `rest` (relay_finish_batch's answer)? */
static int md_in_list(const char *rest, long long id)
{
	char want[32];
	size_t n = (size_t)snprintf(want, sizeof(want), "%lld", id);

	for (const char *p = rest; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && memcmp(p, want, n) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* One statement of the writer; while the database is unreachable (a
 * restart) it tries again each second for up to MD_DB_WAIT_S: the records
 * wait here rather than fail one by one against the same absent server.
 * 0 when it ran. */
static int md_exec_wait(struct md *d, const char *sql, const struct db_val *args,
			unsigned nargs, struct db_res *res)
{
	for (int waited = 0;; waited++) {
		if (db_exec(d->a->db, sql, args, nargs, res) == RE_OK)
			return 0;
		if (db_generation(d->a->db) != 0 || waited >= MD_DB_WAIT_S)
			return -1;   /* an answer (an error of its own), or too long */
		if (waited == 0)
			log_warn("meterd: the database is unreachable (%s); holding the batch",
				 db_error(d->a->db));
		sleep(1);
	}
}

/* The tombstones' error: relay_swept_why(), the text a late
 * finish recognises and replaces; read once. */
static const char *md_swept(struct md *d)
{
	struct db_res res = { 0 };

	if (!d->swept[0] &&
	    md_exec_wait(d, "SELECT relay_swept_why()", NULL, 0, &res) == 0 &&
	    db_res_str(&res, 0, 0))
		snprintf(d->swept, sizeof(d->swept), "%s", db_res_str(&res, 0, 0));
	db_res_free(&res);
	return d->swept[0] ? d->swept : NULL;
}

/* A tombstone made a record: its process ended before the request's FIN,
 * so it ends as a dead relay's request does (HTTP 500, no usage). */
static void md_tomb_rec(struct md *d, struct meterw_rec *w)
{
	const char *why = md_swept(d);

	w->m.http_status = 500;
	memset(&w->m.usage, 0, sizeof(w->m.usage));
	w->has_error = 1;
	snprintf(w->error, sizeof(w->error), "%s", why ? why :
		 "relay process ended before metering");
}

/* After a batch: each client's highest numbered record (HANDED, FIN) in
 * it, for the reader to send (records of one client come in order, and
 * every earlier batch is done). A tombstone has no number. */
static void md_post_acks(struct md *d, unsigned nb)
{
	unsigned long long one = 1;
	int any = 0;

	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < nb; i++) {
		unsigned k;

		if (!d->b[i].seq)
			continue;
		for (k = 0; k < d->nacks && d->acks[k].cid != d->bcid[i]; k++)
			;
		if (k == d->nacks && d->nacks == MD_MAX_FDS)
			continue;   /* more clients than can be connected: gone ones */
		if (k == d->nacks) {
			d->acks[d->nacks].cid = d->bcid[i];
			d->acks[d->nacks++].seq = 0;
		}
		if (d->b[i].seq > d->acks[k].seq)
			d->acks[k].seq = d->b[i].seq;
		any = 1;
	}
	pthread_mutex_unlock(&d->mu);
	if (any && write(d->fds[1].fd, &one, sizeof(one)) < 0)
		log_warn("meterd: its doorbell: %s", strerror(errno));
}

/* Writes b[0..nb): one relay_finish_batch for the items it can take,
 * relay_finish for the rest (and for all of them when it failed); then
 * the acknowledgements. */
static void md_flush(struct md *d, unsigned nb)
{
	const struct cfg *c = &d->a->cfg;
	struct json_object *arr = json_object_new_array();
	unsigned char alone[MD_BATCH_MAX];
	struct db_res res = { 0 };
	const char *rest = NULL, *js;
	int failed = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < nb; i++) {
		struct json_object *it;

		if (d->b[i].kind == METERW_TOMB)
			md_tomb_rec(d, &d->b[i]);
		it = md_item(&d->b[i]);

		alone[i] = it == NULL;
		if (!it)
			continue;
		json_object_array_add(arr, it);
		n++;
	}
	if (n) {
		js = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (md_exec_wait(d, "CALL relay_finish_batch(?)",
				 (const struct db_val[]){ DBB(js, strlen(js)) }, 1, &res)) {
			log_warn("meterd: a batch of %u not written (%s); one by one", n,
				 db_error(d->a->db));
			failed = 1;
		} else if (res.nrows > 0 && res.ncols > 0) {
			rest = db_res_str(&res, 0, 0);
		}
	}
	for (unsigned i = 0; i < nb; i++)
		if (alone[i] || failed || md_in_list(rest, d->b[i].m.admit_id))
			meterq_record(d->a->db, c, &d->b[i]);
	if (d->o->verbose)
		log_info("meterd: batch of %u (%u in one commit%s)", nb, n,
			 failed ? ", failed" : "");
	db_res_free(&res);
	json_object_put(arr);
	md_post_acks(d, nb);
}

/* Called with d->mu held: 1 when the oldest record is due (or the batch
 * full, or the stop), else 0 after waiting until it is or more came. */
static int md_due(struct md *d)
{
	struct timespec t = d->at[d->qhead];

	if (d->stopping || d->qlen >= MD_BATCH)
		return 1;
	md_add_ms(&t, d->a->cfg.meter_batch_ms);
	return pthread_cond_timedwait(&d->more, &d->mu, &t) == ETIMEDOUT;
}

/* Keeps meterd's lock on its own connection, lockdb: the writer's runs
 * relay_finish, which lets go of every lock of its connection. Taken again
 * after a reconnect (until then relay_handover refuses, and web processes
 * meter on their own); while the connection stands, no round trip. */
static void md_keep_lock(struct md *d)
{
	struct db_res res = { 0 };

	if (d->lock_gen && db_alive(d->lockdb) && db_generation(d->lockdb) == d->lock_gen)
		return;
	d->lock_gen = 0;
	if (DBX(d->lockdb, "SELECT GET_LOCK(?, 0)", &res, DBS(d->lock)))
		log_warn("meterd: its lock: %s", db_error(d->lockdb));
	else if (db_res_int(&res, 0, 0, 0) == 1)
		d->lock_gen = db_generation(d->lockdb);
	else
		log_warn("meterd: its lock %s is held by another connection", d->lock);
	db_res_free(&res);
}

/* Is admission id `id` in the queue? Called with d->mu (the writer's
 * batch is empty while it looks). */
static int md_holds(const struct md *d, long long id)
{
	for (unsigned i = 0; i < d->qlen; i++)
		if (d->q[(d->qhead + i) % MD_QUEUE].m.admit_id == id)
			return 1;
	return 0;
}

/* Entries handed to meterd long ago whose record never came (the web
 * process died between relay_handover and its send): swept as a dead
 * process's are. A record that does come later still gets its real row
 * (relay_finish replaces the swept one). On lockdb: relay_sweep_one takes
 * the entry's lock, which only the connection holding it gets again. */
static void md_sweep_orphans(struct md *d)
{
	struct db_res res = { 0 };

	if (!d->lock_gen)
		return;
	if (DBX(d->lockdb, "SELECT id FROM inflight WHERE lock_name = ? AND handed_at < "
			  "NOW() - INTERVAL ? SECOND ORDER BY id LIMIT 100",
		&res, DBS(d->lock), DBI(MD_ORPHAN_S))) {
		log_warn("meterd: looking for orphaned entries: %s", db_error(d->lockdb));
		return;
	}
	for (unsigned r = 0; r < res.nrows; r++) {
		long long id = db_res_int(&res, r, 0, 0);
		int held;

		pthread_mutex_lock(&d->mu);
		held = md_holds(d, id);
		pthread_mutex_unlock(&d->mu);
		if (held)
			continue;
		log_warn("meterd: request %lld was handed over but its record never came; swept", id);
		if (DBX(d->lockdb, "CALL relay_sweep_one(?)", NULL, DBI(id)))
			log_warn("meterd: sweeping %lld: %s", id, db_error(d->lockdb));
	}
	db_res_free(&res);
}

/* Between batches and once a second while idle: the lock, and now and
 * then the orphans. */
static void md_tend(struct md *d, time_t *swept_at)
{
	time_t now = time(NULL);

	md_keep_lock(d);
	if (now - *swept_at >= MD_ORPHAN_EVERY_S) {
		md_sweep_orphans(d);
		*swept_at = now;
	}
}

/* Called with d->mu held: waits up to a second for a record; 0 = none
 * came (the writer tends its lock meanwhile). */
static int md_wait_more(struct md *d)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	md_add_ms(&t, 1000);
	return pthread_cond_timedwait(&d->more, &d->mu, &t) != ETIMEDOUT || d->qlen;
}

/* The writer thread: batches out of the queue until the stop has emptied
 * it. */
static void *md_writer(void *arg)
{
	struct md *d = arg;
	time_t swept_at = time(NULL);

	md_keep_lock(d);
	pthread_mutex_lock(&d->mu);
	for (;;) {
		unsigned n;

		while (d->qlen == 0 && !d->stopping)
			if (!md_wait_more(d)) {
				pthread_mutex_unlock(&d->mu);
				md_tend(d, &swept_at);
				pthread_mutex_lock(&d->mu);
			}
		if (d->qlen == 0)
			break;
		if (!md_due(d))
			continue;
		n = d->qlen < MD_BATCH_MAX ? d->qlen : MD_BATCH_MAX;
		for (unsigned i = 0; i < n; i++) {
			d->b[i] = d->q[(d->qhead + i) % MD_QUEUE];
			d->bcid[i] = d->qcid[(d->qhead + i) % MD_QUEUE];
		}
		d->qhead = (d->qhead + n) % MD_QUEUE;
		d->qlen -= n;
		d->writing = 1;
		pthread_cond_signal(&d->room);
		pthread_mutex_unlock(&d->mu);
		md_flush(d, n);
		md_tend(d, &swept_at);
		pthread_mutex_lock(&d->mu);
		d->writing = 0;
		d->batches++;
		d->records += n;
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* '<prefix>:md:<16 random hex digits>': a new name each start, so a
 * web process still connected to a meterd that stopped can not hand an
 * entry to the next one's lock by mistake. */
static int md_lock_name(struct md *d)
{
	unsigned char r[8];
	int n;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		log_error("meterd: no randomness for its lock's name");
		return -1;
	}
	n = snprintf(d->lock, sizeof(d->lock), "%s:md:%02x%02x%02x%02x%02x%02x%02x%02x",
		     d->a->cfg.lock_prefix, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
	if (n < 0 || n > 64) {   /* MariaDB's longest lock name */
		log_error("meterd: lock_prefix is too long for its lock's name");
		return -1;
	}
	d->lock_len = (size_t)n;
	return 0;
}

static int md_init(struct md *d, struct app *a, const struct meterd_opts *o)
{
	struct passwd *pw = getpwnam(a->cfg.meter_peer_user);
	pthread_condattr_t ca;

	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->more, &ca);
	pthread_cond_init(&d->room, &ca);
	pthread_condattr_destroy(&ca);
	d->a = a;
	d->o = o;
	d->peer_uid = pw ? pw->pw_uid : (uid_t)-1;
	d->fds = calloc(MD_MAX_FDS, sizeof(*d->fds));
	d->cl = calloc(MD_MAX_FDS, sizeof(*d->cl));
	d->q = calloc(MD_QUEUE, sizeof(*d->q));
	d->qcid = calloc(MD_QUEUE, sizeof(*d->qcid));
	d->at = calloc(MD_QUEUE, sizeof(*d->at));
	d->b = calloc(MD_BATCH_MAX, sizeof(*d->b));
	d->bcid = calloc(MD_BATCH_MAX, sizeof(*d->bcid));
	d->acks = calloc(MD_MAX_FDS, sizeof(*d->acks));
	d->acks_out = calloc(MD_MAX_FDS, sizeof(*d->acks_out));
	d->lockdb = db_new(&a->cfg);
	if (!d->fds || !d->cl || !d->q || !d->qcid || !d->at || !d->b || !d->bcid ||
	    !d->acks || !d->acks_out || !d->lockdb)
		return -1;
	d->fds[0].fd = -1;
	d->fds[1].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->fds[1].events = POLLIN;
	d->nfds = MD_FIRST;
	return d->fds[1].fd < 0 ? -1 : md_lock_name(d);
}

static void md_free(struct md *d)
{
	pthread_cond_destroy(&d->more);
	pthread_cond_destroy(&d->room);
	pthread_mutex_destroy(&d->mu);
	if (d->lockdb)
		db_close(d->lockdb);
	if (d->fds && d->nfds >= MD_FIRST && d->fds[1].fd >= 0)
		close(d->fds[1].fd);
	for (unsigned i = 0; d->cl && i < MD_MAX_FDS; i++)
		free(d->cl[i].reg);
	free(d->fds);
	free(d->cl);
	free(d->q);
	free(d->qcid);
	free(d->at);
	free(d->b);
	free(d->bcid);
	free(d->acks);
	free(d->acks_out);
}

/* The writer, with the signals left to the main thread (its poll is what
 * SIGTERM interrupts). */
static int md_start_writer(struct md *d, pthread_t *t)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, md_writer, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int meterd_run(struct app *a, const struct meterd_opts *o)
{
	static struct md d;
	struct sigaction sa;
	pthread_t writer;
	int lfd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = md_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (md_init(&d, a, o) || (lfd = md_listen(a->cfg.meter_socket)) < 0 ||
	    md_start_writer(&d, &writer)) {
		if (lfd >= 0) {
			close(lfd);
			unlink(a->cfg.meter_socket);
		}
		md_free(&d);
		return lfd == -2 ? 0 : 1;
	}
	d.fds[0].fd = lfd;
	d.fds[0].events = POLLIN;
	log_info("meterd: serving %s (batches of up to %d, %d ms)", a->cfg.meter_socket,
		 MD_BATCH_MAX, a->cfg.meter_batch_ms);
	while (!md_stop)
		md_round(&d);
	close(lfd);
	unlink(a->cfg.meter_socket);
	md_drain(&d);
	pthread_mutex_lock(&d.mu);
	d.stopping = 1;
	pthread_cond_signal(&d.more);
	pthread_mutex_unlock(&d.mu);
	pthread_join(writer, NULL);
	md_close_all(&d);
	log_info("meterd: stopped (%llu records in %llu batches, %llu malformed)", d.records,
		 d.batches, d.rejected);
	md_free(&d);
	return 0;
}
