/* meterd.c - the host's metering daemon (see meterd.h). */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
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

/* One batch at most; web processes wait in their sockets meanwhile. */
#define MD_BATCH 64
#define MD_MAX_FDS 4096

struct md {
	struct app *a;
	const struct meterd_opts *o;
	struct pollfd *fds;          /* [0] = the listening socket */
	unsigned nfds;
	struct meterw_rec *b;        /* the batch being collected */
	unsigned nb;
	struct timespec first;       /* when b[0] came */
	uid_t peer_uid;              /* meter_peer_user's, or (uid_t)-1 */
	unsigned long long batches, records, rejected;
};

static volatile sig_atomic_t md_stop;

static void md_on_term(int sig)
{
	(void)sig;
	md_stop = 1;
}

static long md_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* The socket, taking over a stale one (a meterd that died) but never a
 * live one. */
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
			log_error("another meterd serves %s", path);
			close(probe);
			close(fd);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			errno = 0;
	}
	if (errno || chmod(path, 0666) || listen(fd, 128)) {
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
		d->fds[d->nfds].fd = fd;
		d->fds[d->nfds].events = POLLIN;
		d->fds[d->nfds].revents = 0;
		d->nfds++;
	}
}

/* Reads what client i has ready into the batch, up to its end; 0 when the
 * client hung up. */
static int md_read(struct md *d, unsigned i)
{
	static struct meterw_rec raw;
	ssize_t n;

	while (d->nb < MD_BATCH) {
		n = recv(d->fds[i].fd, &raw, sizeof(raw), MSG_DONTWAIT | MSG_TRUNC);
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (meterw_decode(&raw, (size_t)n, &d->b[d->nb])) {
			d->rejected++;
			log_warn("meterd: a malformed record of %zd bytes dropped", n);
			continue;
		}
		if (d->nb == 0)
			clock_gettime(CLOCK_MONOTONIC, &d->first);
		d->nb++;
	}
	return 1;
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

/* The batch's item for w (sql/020's p_items), or NULL when w must go
 * through relay_finish. */
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
	md_add_int(o, "u", m.user_id);
	md_add_int(o, "k", m.key_id);
	md_add_str(o, "f", fmt_name(m.fmt));
	md_add_str(o, "m", m.model);
	md_add_int(o, "s", m.stream ? 1 : 0);
	md_add_int(o, "st", m.http_status);
	md_add_int(o, "p", usage_prompt(&m.usage));
	md_add_int(o, "c", usage_completion(&m.usage));
	md_add_int(o, "t", usage_total(&m.usage));
	md_add_int(o, "kn", m.usage.found ? 1 : 0);
	md_add_int(o, "l", m.latency_ms < 0 ? 0 : m.latency_ms);
	if (m.error)
		md_add_str(o, "e", m.error);
	md_add_str(o, "r", m.route ? m.route : "call");
	if (m.day)
		md_add_str(o, "d", m.day);
	md_add_int(o, "sl", w->has_slot ? 1 : 0);
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

/* Writes the batch: one relay_finish_batch for the items it can take,
 * relay_finish for the rest (and for all of them when it failed). */
static void md_flush(struct md *d)
{
	static const char sql[] = "CALL relay_finish_batch(?, ?, ?, ?, ?)";
	const struct cfg *c = &d->a->cfg;
	struct json_object *arr = json_object_new_array();
	unsigned char alone[MD_BATCH];
	struct db_res res = { 0 };
	const char *rest = NULL, *js;
	int slotted = 0, failed = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < d->nb; i++) {
		struct json_object *it = md_item(&d->b[i]);

		alone[i] = it == NULL;
		if (!it)
			continue;
		json_object_array_add(arr, it);
		slotted += d->b[i].has_slot;
		n++;
	}
	if (n) {
		js = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (DBX(d->a->db, sql, &res, DBS(c->lock_prefix), DBI(c->upstream_slots),
			DBI(c->queue_wait_max), DBI(slotted), DBB(js, strlen(js)))) {
			log_warn("meterd: a batch of %u not written (%s); one by one", n,
				 db_error(d->a->db));
			failed = 1;
		} else if (res.nrows > 0 && res.ncols > 0) {
			rest = db_res_str(&res, 0, 0);
		}
	}
	for (unsigned i = 0; i < d->nb; i++)
		if (alone[i] || failed || md_in_list(rest, d->b[i].m.admit_id))
			meterq_record(d->a->db, c, &d->b[i]);
	if (d->o->verbose)
		log_info("meterd: batch of %u (%u in one commit%s)", d->nb, n,
			 failed ? ", failed" : "");
	d->batches++;
	d->records += d->nb;
	db_res_free(&res);
	json_object_put(arr);
	d->nb = 0;
}

/* Drops client i (it hung up, or at the stop). */
static void md_drop(struct md *d, unsigned i)
{
	close(d->fds[i].fd);
	d->fds[i] = d->fds[--d->nfds];
}

/* One round: waits for records (at most until the batch is due), reads
 * them, writes the batch when it is full or due. */
static void md_round(struct md *d)
{
	long wait = 1000;

	if (d->nb) {
		wait = d->a->cfg.meter_batch_ms - md_ms_since(&d->first);
		if (wait < 0)
			wait = 0;
	}
	if (poll(d->fds, d->nfds, (int)wait) < 0 && errno != EINTR)
		log_warn("meterd: poll: %s", strerror(errno));
	if (d->fds[0].revents & POLLIN)
		md_accept(d);
	for (unsigned i = 1; i < d->nfds && d->nb < MD_BATCH; i++) {
		if (!d->fds[i].revents)
			continue;
		d->fds[i].revents = 0;
		if (!md_read(d, i))
			md_drop(d, i--);
	}
	if (d->nb && (d->nb >= MD_BATCH || md_ms_since(&d->first) >= d->a->cfg.meter_batch_ms))
		md_flush(d);
}

/* At the stop: no new records (a sender's next send fails and it meters
 * itself), then everything already in the sockets. */
static void md_drain(struct md *d)
{
	for (unsigned i = 1; i < d->nfds; i++)
		shutdown(d->fds[i].fd, SHUT_RD);
	while (d->nfds > 1) {
		for (unsigned i = 1; i < d->nfds; i++) {
			md_read(d, i);
			if (d->nb >= MD_BATCH) {
				md_flush(d);   /* and this client again */
				i--;
				continue;
			}
			md_drop(d, i--);   /* read to its end */
		}
	}
	if (d->nb)
		md_flush(d);
}

int meterd_run(struct app *a, const struct meterd_opts *o)
{
	static struct md d;
	struct sigaction sa;
	struct passwd *pw = getpwnam(a->cfg.meter_peer_user);
	int lfd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = md_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.a = a;
	d.o = o;
	d.peer_uid = pw ? pw->pw_uid : (uid_t)-1;
	d.fds = calloc(MD_MAX_FDS, sizeof(*d.fds));
	d.b = calloc(MD_BATCH, sizeof(*d.b));
	if (!d.fds || !d.b || (lfd = md_listen(a->cfg.meter_socket)) < 0) {
		free(d.fds);
		free(d.b);
		return 1;
	}
	d.fds[0].fd = lfd;
	d.fds[0].events = POLLIN;
	d.nfds = 1;
	log_info("meterd: serving %s (batches of up to %d, %d ms)", a->cfg.meter_socket,
		 MD_BATCH, a->cfg.meter_batch_ms);
	while (!md_stop)
		md_round(&d);
	close(lfd);
	unlink(a->cfg.meter_socket);
	md_drain(&d);
	log_info("meterd: stopped (%llu records in %llu batches, %llu malformed)", d.records,
		 d.batches, d.rejected);
	free(d.fds);
	free(d.b);
	return 0;
}
