/* meterc.c - handing a record to bin/meterd (see meterc.h). */
#include <errno.h>
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
#include "meterw.h"

/* A full socket (about 150 records of this process) means meterd is behind
 * (its database stalls): wait this long for room, then meter here. The
 * wait is on the request's path: short. */
#define MC_SEND_TIMEOUT_MS 200
#define MC_RETRY_S 1
#define MC_WARN_EVERY_S 60

struct meterc {
	const struct cfg *c;
	int fd;
	time_t retry_at;    /* no connect before this after a failure */
	time_t warned_at;   /* the last "not there" warning */
	char lock[128];     /* meterd's lock (its hello), "" = none yet */
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

/* The entry under meterd's lock, this connection's locks let go, and
 * the next in line woken if the request held a slot. */
static int mc_handover(struct meterc *mc, struct db *db, long long admit_id, int slot)
{
	const struct cfg *c = mc->c;
	struct db_res res = { 0 };
	int ok;

	ok = DBX(db, "CALL relay_handover(?, ?, ?, ?, ?, ?)", &res, DBI(admit_id),
		 DBS(mc->lock), DBI(slot), DBS(c->lock_prefix), DBI(c->upstream_slots),
		 DBI(c->queue_wait_max)) == RE_OK && db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return ok ? 0 : -1;
}

int meterc_hand(struct meterc *mc, struct db *db, const struct meter_rec *m,
		const char *slot)
{
	size_t n;

	if (mc->fd < 0 && mc_connect(mc))
		return -1;
	meterw_fill(&mc->w, m, slot, log_request());
	n = meterw_encode(&mc->w, mc->wire);
	if (mc_handover(mc, db, m->admit_id, slot != NULL))
		return -1;
	if (send(mc->fd, mc->wire, n, MSG_NOSIGNAL) == (ssize_t)n)
		return 0;
	/* handed over, not sent: relay_finish (the caller's) takes the entry
	 * all the same. EAGAIN (the timeout): meterd is behind; EPIPE /
	 * ECONNRESET: it stopped (a new one has a new lock: reconnect later). */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		log_warn("meterd is behind (its socket stayed full %d ms); metering in this process",
			 MC_SEND_TIMEOUT_MS);
		return -1;
	}
	mc_close(mc);
	mc->retry_at = time(NULL) + MC_RETRY_S;
	return -1;
}

void meterc_free(struct meterc *mc)
{
	if (!mc)
		return;
	mc_close(mc);
	free(mc);
}
