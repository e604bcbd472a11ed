/* meterc.c - handing a record to bin/meterd (see meterc.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meterc.h"
#include "meterq.h"
#include "meterw.h"

/* A full socket (about 150 records of this process) means meterd is behind
 * (its database stalls): wait this long for room, then meter here. The
 * wait is on the request's path: short. */
#define MC_SEND_TIMEOUT_MS 200
#define MC_RETRY_S 1
#define MC_WARN_EVERY_S 60
/* Records (FIN, HANDED) sent and not yet acknowledged: a few batches'
 * worth of this process's requests. Full = meterd far behind: the next
 * requests take relay_admit's path, and are metered here, until it
 * catches up. */
#define MC_PENDING 32
/* At the process's end: how long to wait for the last acknowledgements
 * before writing the rest here. */
#define MC_EXIT_WAIT_MS 2000

/* A record (FIN, HANDED) as it went out, kept until meterd acknowledges
 * it. */
struct mc_pend {
	unsigned long long seq;
	size_t len;
	unsigned char *wire;    /* owned */
};

struct meterc {
	const struct cfg *c;
	int fd;
	time_t retry_at;    /* no connect before this after a failure */
	time_t warned_at;   /* the last "not there" warning */
	char lock[128];     /* meterd's lock (its hello), "" = none yet */
	unsigned long long seq;   /* the last numbered record's number */
	long long reg;      /* the admission registered with this meterd
			       and not finished, 0 = none */
	struct mc_pend pend[MC_PENDING];   /* oldest first */
	unsigned npend;
	struct meterw_rec w;
	unsigned char wire[METERW_WIRE_MAX];
};

struct meterc *meterc_new(const struct cfg *c)
{
	struct meterc *mc;

	if (!c->meter_socket[0] || !(mc = calloc(1, sizeof(*mc))))
		return NULL;
	mc->c = c;
	mc->fd = -1;
	return mc;
}

static void mc_close(struct meterc *mc)
{
	if (mc->fd >= 0)
		close(mc->fd);
	mc->fd = -1;
}

/* meterd went away: its registration with it, if any, is gone; what it
 * did not acknowledge waits for mc_recover. The next use connects again
 * at once (a restarted meterd); only a failed connect waits MC_RETRY_S. */
static void mc_lost(struct meterc *mc)
{
	mc_close(mc);
	mc->reg = 0;
}

/* Every record up to seq is durable (or meterd gave up on it, logged). */
static void mc_acked(struct meterc *mc, unsigned long long seq)
{
	unsigned k = 0;

	while (k < mc->npend && mc->pend[k].seq <= seq)
		free(mc->pend[k++].wire);
	if (!k)
		return;
	memmove(mc->pend, mc->pend + k, (mc->npend - k) * sizeof(mc->pend[0]));
	mc->npend -= k;
}

/* Reads what meterd sent (acknowledgements) without waiting; -1 when the
 * connection ended (then mc_lost). */
static int mc_read(struct meterc *mc)
{
	struct meterw_ack ack;
	ssize_t n;

	while (mc->fd >= 0) {
		n = recv(mc->fd, &ack, sizeof(ack), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n <= 0) {
			mc_lost(mc);
			return -1;
		}
		if ((size_t)n == sizeof(ack) && ack.magic == METERW_ACK_MAGIC)
			mc_acked(mc, ack.seq);
	}
	return -1;
}

/* Waits up to ms for acknowledgements until fewer than `want` records
 * are unacknowledged; 0 when that happened. */
static int mc_wait_acks(struct meterc *mc, unsigned want, int ms)
{
	struct timespec t0, t;

	/* an acknowledgement may have been dropped (meterd's send to a full
	 * socket): ask for the last one again */
	if (mc->fd >= 0 && mc->npend >= want &&
	    send(mc->fd, "SYNC", 4, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		mc_lost(mc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (mc->npend >= want && mc->fd >= 0) {
		struct pollfd p = { mc->fd, POLLIN, 0 };
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
		mc_read(mc);
	}
	return mc->npend < want ? 0 : -1;
}

/* A meterd that went away left records unacknowledged: each is written
 * here, through relay_finish (src/meterq.c), which finds the row if meterd
 * wrote it after all, and replaces the row a sweep wrote for a handed
 * entry meanwhile. Only where the connection holds no lock: relay_finish
 * lets go of all of them. */
static void mc_recover(struct meterc *mc, struct db *db)
{
	struct meterw_rec *w = &mc->w;
	unsigned n = mc->npend;

	for (unsigned i = 0; i < mc->npend; i++) {
		if (db && meterw_decode(mc->pend[i].wire, mc->pend[i].len, w) == 0) {
			w->has_slot = 0;
			meterq_record(db, mc->c, w);
		} else {
			log_error("meterd went away; a request's record (#%llu) is not written",
				  mc->pend[i].seq);
		}
		free(mc->pend[i].wire);
	}
	mc->npend = 0;
	if (n)
		log_warn("meterd went away with %u records unacknowledged; written here", n);
}

/* meterd's first datagram on a connection: the name of its lock. */
static int mc_hello(struct meterc *mc)
{
	ssize_t n = recv(mc->fd, mc->lock, sizeof(mc->lock) - 1, MSG_TRUNC);

	if (n <= 0 || (size_t)n >= sizeof(mc->lock) || !memchr(mc->lock, ':', (size_t)n)) {
		if (n >= 0)
			errno = EPROTO;
		mc->lock[0] = '\0';
		return -1;
	}
	mc->lock[n] = '\0';
	return 0;
}

static int mc_connect(struct meterc *mc)
{
	struct sockaddr_un sa;
	struct timeval tv = { 0, MC_SEND_TIMEOUT_MS * 1000 };
	size_t n = strlen(mc->c->meter_socket);
	time_t now = time(NULL);

	if (now < mc->retry_at || n >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, mc->c->meter_socket, n);
	mc->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (mc->fd < 0 || setsockopt(mc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(mc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(mc->fd, (struct sockaddr *)&sa, sizeof(sa)) || mc_hello(mc)) {
		/* once, then once a minute: a process retries every second */
		if (now - mc->warned_at >= MC_WARN_EVERY_S) {
			log_warn("meterd at %s: %s; metering in this process", mc->c->meter_socket,
				 strerror(errno));
			mc->warned_at = now;
		}
		mc_close(mc);
		mc->retry_at = now + MC_RETRY_S;
		return -1;
	}
	return 0;
}

int meterc_ready(struct meterc *mc, struct db *db)
{
	if (mc->fd >= 0)
		mc_read(mc);
	if (mc->fd < 0 && mc->npend)
		mc_recover(mc, db);
	if (mc->fd < 0 && mc_connect(mc))
		return 0;
	if (mc->npend < MC_PENDING)
		return 1;
	/* meterd behind, or an acknowledgement lost: ask, and take
	 * relay_admit's path this time (no registration to finish) */
	mc_wait_acks(mc, MC_PENDING, 0);
	return 0;
}

int meterc_idle_fd(struct meterc *mc, struct db *db)
{
	if (mc->fd < 0 && mc->npend)
		mc_recover(mc, db);
	return mc->fd >= 0 && mc->npend ? mc->fd : -1;
}

void meterc_idle(struct meterc *mc, struct db *db)
{
	if (mc_read(mc) < 0)
		mc_recover(mc, db);
}

int meterc_register(struct meterc *mc, const struct meter_rec *m)
{
	size_t n;

	if (mc->fd < 0)
		return -1;
	meterw_fill(&mc->w, m, NULL, log_request());
	mc->w.kind = METERW_REG;
	n = meterw_encode(&mc->w, mc->wire);
	/* never waits: a full socket means meterd is behind, and relay_admit's
	 * path costs a round trip, not 200 ms */
	if (send(mc->fd, mc->wire, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n) {
		mc->reg = m->admit_id;
		return 0;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		mc_lost(mc);
	return -1;
}

int meterc_holds(const struct meterc *mc, long long admit_id)
{
	return mc && mc->fd >= 0 && admit_id && mc->reg == admit_id;
}

int meterc_check(struct meterc *mc)
{
	struct pollfd p;

	if (!mc || !mc->reg)
		return 0;
	p.fd = mc->fd;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) > 0) {
		if (p.revents & (POLLERR | POLLNVAL))
			mc_lost(mc);
		else
			mc_read(mc);   /* acknowledgements, or the end */
	}
	return mc->reg ? 0 : -1;
}

/* Keeps a copy of the record just sent until meterd acknowledges it. */
static void mc_keep(struct meterc *mc, size_t n)
{
	unsigned char *copy = malloc(n);

	if (!copy) {
		log_warn("no memory to keep record #%llu until meterd has it", mc->seq);
		return;
	}
	memcpy(copy, mc->wire, n);
	mc->pend[mc->npend].seq = mc->seq;
	mc->pend[mc->npend].len = n;
	mc->pend[mc->npend].wire = copy;
	mc->npend++;
}

/* Room for one more numbered record: when MC_PENDING are unacknowledged,
 * waits up to ms for acknowledgements (0: only asks for them). 0 = room,
 * and still connected. */
static int mc_room(struct meterc *mc, int ms)
{
	mc_read(mc);
	if (mc->npend >= MC_PENDING && mc_wait_acks(mc, MC_PENDING, ms)) {
		/* a wait that ran out is worth a line; not asking, which every
		 * handed request does while meterd is behind */
		if (ms > 0)
			log_warn("meterd is behind (%u records unacknowledged); metering in this process",
				 mc->npend);
		return -1;
	}
	return mc->fd >= 0 ? 0 : -1;
}

/* Sends mc->w (its kind set) numbered, and keeps it until meterd
 * acknowledges it. 0 = sent; -1 = not (meterd behind or gone). */
static int mc_send_kept(struct meterc *mc)
{
	size_t n;

	mc->w.seq = mc->seq + 1;
	n = meterw_encode(&mc->w, mc->wire);
	if (send(mc->fd, mc->wire, n, MSG_NOSIGNAL) != (ssize_t)n) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			log_warn("meterd is behind (its socket stayed full %d ms); metering in this process",
				 MC_SEND_TIMEOUT_MS);
		else
			mc_lost(mc);
		return -1;
	}
	mc->seq++;
	mc_keep(mc, n);
	return 0;
}

int meterc_finish(struct meterc *mc, struct db *db, const struct meter_rec *m)
{
	const struct cfg *c = mc->c;

	if (!meterc_holds(mc, m->admit_id))
		return -1;
	mc->reg = 0;
	/* meterd holds the registration: worth a short wait */
	if (mc_room(mc, MC_SEND_TIMEOUT_MS))
		return -1;
	meterw_fill(&mc->w, m, NULL, log_request());
	mc->w.kind = METERW_FIN;
	if (mc_send_kept(mc))
		return -1;
	/* the record is meterd's: the slot goes, the next in line is woken */
	if (DBX(db, "CALL relay_let_go(?, ?, ?)", NULL, DBS(c->lock_prefix),
		DBI(c->upstream_slots), DBI(c->queue_wait_max)))
		log_warn("letting go of the request's locks: %s", db_error(db));
	return 0;
}

/* The entry under meterd's lock with the request's tokens (which a
 * token limit's admission reads until the row is written, relay_handover), this
 * connection's locks let go, and the next in line woken if the request
 * held a slot. */
static int mc_handover(struct meterc *mc, struct db *db, long long admit_id, int slot,
		       long long tokens)
{
	const struct cfg *c = mc->c;
	struct db_res res = { 0 };
	int ok;

	ok = DBX(db, "CALL relay_handover(?, ?, ?, ?, ?, ?, ?)", &res, DBI(admit_id),
		 DBS(mc->lock), DBI(slot), DBS(c->lock_prefix), DBI(c->upstream_slots),
		 DBI(c->queue_wait_max), DBI(tokens)) == RE_OK && db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return ok ? 0 : -1;
}

int meterc_hand(struct meterc *mc, struct db *db, const struct meter_rec *m,
		const char *slot)
{
	if (mc->fd < 0 && mc_connect(mc))
		return -1;
	if (mc_room(mc, 0))   /* behind: the metering thread is as good */
		return -1;
	meterw_fill(&mc->w, m, slot, log_request());
	if (mc_handover(mc, db, m->admit_id, slot != NULL, usage_total(&m->usage)))
		return -1;
	if (mc_send_kept(mc) == 0)
		return 0;
	/* handed over, not sent: relay_finish (the caller's) takes the entry
	 * all the same. meterd behind: the socket is kept; gone: a new one
	 * has a new lock, connect again a second later. */
	if (mc->fd < 0)
		mc->retry_at = time(NULL) + MC_RETRY_S;
	return -1;
}

void meterc_free(struct meterc *mc, struct db *db)
{
	if (!mc)
		return;
	if (mc->fd >= 0 && mc->npend)
		mc_wait_acks(mc, 1, MC_EXIT_WAIT_MS);
	mc_close(mc);
	mc_recover(mc, db);
	free(mc);
}

int meterc_probe(const char *path)
{
	struct sockaddr_un sa;
	size_t n = path ? strlen(path) : 0;
	int fd, ok;

	if (!n)
		return -1;
	if (n >= sizeof(sa.sun_path))
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}
