/* worker.c - drains the queue through free upstream slots (SPEC §4). */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "app.h"
#include "bkadmin.h"
#include "buf.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "queue.h"
#include "relay.h"
#include "slot.h"
#include "up.h"
#include "metrics.h"
#include "retain.h"
#include "worker.h"

static volatile sig_atomic_t worker_stop;

static void worker_on_term(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* relay_dest that collects the response into a capped buffer. */
struct worker_sink {
	struct buf body;
	char content_type[256];
};

static int ws_start(void *ctx, int status, const char *ct, int sse)
{
	struct worker_sink *w = ctx;

	(void)status;
	(void)sse;
	snprintf(w->content_type, sizeof(w->content_type), "%s", ct);
	return 0;
}

static int ws_write(void *ctx, const char *p, size_t n)
{
	struct worker_sink *w = ctx;

	return buf_append(&w->body, p, n) ? -1 : 0;
}

static int ws_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static double worker_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void worker_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Copies a header value stored with the item (NULL if absent). The result
 * points into *holder, which the caller releases. */
static const char *worker_header(struct json_object *holder, const char *name)
{
	struct json_object *v;

	if (!holder || !json_object_object_get_ex(holder, name, &v))
		return NULL;
	return json_object_get_string(v);
}

struct worker_tick {
	struct app *a;
	struct slot *s;
	struct queue_item *it;
};

/* Keeps the slot and the item lock, which live on the database connection:
 * after a lost connection both are taken again at once, so no other worker
 * recovers (re-sends) this live item and no extra upstream call starts. */
static const char *worker_tick(void *ctx)
{
	struct worker_tick *t = ctx;
	struct slot il;

	memset(&il, 0, sizeof(il));
	snprintf(il.name, sizeof(il.name), "%s", t->it->lock);
	il.held = 1;
	il.gen = t->it->lock_gen;
	if (lock_keep(t->a->db, &il) != RE_OK) {
		log_error("item %lld: its lock was lost with the database connection",
			  t->it->id);
		return "queue worker lost the item lock (database connection lost)";
	}
	t->it->lock_gen = il.gen;
	if (lock_keep(t->a->db, t->s) != RE_OK) {
		log_error("item %lld: upstream slot lost with the database connection",
			  t->it->id);
		return "queue worker lost its upstream slot (database connection lost)";
	}
	return NULL;
}

/* Largest result the queue row can take: MariaDB refuses a statement
 * larger than max_allowed_packet (16 MiB by default), and a refused store
 * used to leave the item processing, to be recovered and sent upstream
 * again. 64 KiB is left for the rest of the UPDATE. Read once per
 * connection. */
static size_t worker_result_cap(struct app *a)
{
	static size_t cap;
	static unsigned long long gen;
	struct db_res res;
	long long map;

	if (cap && gen == db_generation(a->db))
		return cap;
	cap = WORKER_RESPONSE_MAX;
	if (!db_exec(a->db, "SELECT @@max_allowed_packet", NULL, 0, &res)) {
		map = db_res_int(&res, 0, 0, 0);
		db_res_free(&res);
		if (map > 131072 && (unsigned long long)map - 65536 < cap)
			cap = (size_t)(map - 65536);
	}
	gen = db_generation(a->db);
	return cap;
}

/* Processes one claimed item while holding slot s. */
static void worker_process(struct app *a, struct queue_item *it, struct slot *s)
{
	struct worker_tick t = { a, s, it };
	struct relay_dest d = { ws_start, ws_write, ws_flush, NULL, NULL };
	struct json_object *hdr = it->headers ? json_tokener_parse(it->headers) : NULL;
	struct worker_sink w;
	struct relay_outcome oc;
	struct up_req rq, in;
	const struct backend *b;
	struct buf mapped;
	const char *why = NULL;
	char url[2300];
	unsigned bid;
	enum relay_err rc;

	memset(&w, 0, sizeof(w));
	buf_init(&w.body, worker_result_cap(a));
	buf_init(&mapped, it->body_len + 1024);
	d.ctx = &w;
	/* the slot says which backend serves the item (relay_slot_name) */
	bid = bmatch_lock_backend(a->cfg.lock_prefix, s->name);
	b = backend_lookup(&a->bk, a->db, bid);
	if (bid == 0 && !up_url(&a->cfg, it->fmt)) {
		rc = queue_fail(a->db, it, 500, it->fmt == FMT_ANTHROPIC ?
				"anthropic_url not configured" : "openai_url not configured");
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.fmt = it->fmt;
	in.body = it->body ? it->body : "";
	in.body_len = it->body_len;
	in.stream = it->stream;
	in.anthropic_version = worker_header(hdr, "anthropic-version");
	in.anthropic_beta = worker_header(hdr, "anthropic-beta");
	if (!b || backend_prepare(b, &a->cfg, &in, it->fmt == FMT_ANTHROPIC ?
				  "/v1/messages" : "/chat/completions", it->model,
				  url, sizeof(url), &mapped, &rq, &why)) {
		rc = queue_fail(a->db, it, 502, b ? why : "backend removed");
		goto out;
	}
	rq.tick = worker_tick;
	rq.tick_ctx = &t;
	relay_exchange(a->up, &rq, &d, &oc);
	if (oc.err == RE_EUPSTREAM || oc.status == 429 || oc.status >= 500)
		backend_note_fail(a->db, &a->cfg, &a->bk, bid, oc.status, oc.error,
				  oc.retry_after);
	backend_log_json(it->backend, sizeof(it->backend), b,
			 !(oc.err == RE_EUPSTREAM || oc.status == 429 || oc.status >= 500), 0, NULL);
	/* Once more before storing: a recoverer must not see the item's
	 * lock free while its result is being written. */
	worker_tick(&t);
	if (((oc.err == RE_OK && (oc.status == 429 || oc.status == 503)) ||
	     /* several backends: an unreachable one is another's work (the
	      * next claim picks a backend that is not cooling down) */
	     (oc.err == RE_EUPSTREAM && !oc.started && backend_pooled(&a->bk))) &&
	    it->retries < QUEUE_BUSY_RETRIES) {
		/* The upstream is overloaded right now: that is what the queue
		 * is for. The item waits again instead of ending with the
		 * refusal; nothing was served, so nothing is metered. */
		int delay = queue_busy_delay(it->retries, oc.retry_after);
		rc = queue_retry(a->db, it, delay);
		log_info("item %lld: upstream busy (HTTP %d), retry %d/%d in %d s",
			 it->id, oc.status, it->retries + 1, QUEUE_BUSY_RETRIES, delay);
		goto out;
	}
	if (oc.err == RE_ECLIENT) {
		/* Too large to store: failed with the reason, no half body,
		 * metered once with the usage read on past the cap. */
		snprintf(oc.error, sizeof(oc.error),
			 "response larger than %zu bytes, the most the queue can store (max_allowed_packet)",
			 w.body.max);
		buf_free(&w.body);
	}
	rc = queue_finish(a->db, it, &oc, w.content_type, w.body.data, w.body.len);
	if (rc && rc != RE_ENOTFOUND) {
		/* Storing failed all the same: end the item failed rather than
		 * leave it processing for a recoverer to send again. */
		log_error("item %lld: storing the result failed (%s); marking it failed",
			  it->id, db_error(a->db));
		snprintf(oc.error, sizeof(oc.error), "the result could not be stored");
		rc = queue_finish(a->db, it, &oc, w.content_type, NULL, 0);
	}
	log_info("item %lld: status=%d tokens=%lld/%lld latency=%ldms%s%s", it->id,
		 oc.status, usage_prompt(&oc.usage), usage_completion(&oc.usage),
		 oc.latency_ms, oc.error[0] ? " error=" : "", oc.error);
out:
	if (rc && rc != RE_ENOTFOUND)
		log_error("item %lld: storing the result failed: %s", it->id,
			  db_error(a->db));
	json_object_put(hdr);
	buf_free(&w.body);
	buf_free(&mapped);
}

/* Registers this connection as a worker that sleeps in relay_wait, so a
 * slot holder that frees a slot can wake it (relay_wake). Done again after a
 * reconnect (the id changes); *reg is the id registered. */
static void worker_register(struct app *a, unsigned long *reg)
{
	char host[256];

	if (*reg && *reg == db_thread_id(a->db))
		return;
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (!DBX(a->db, "INSERT INTO queue_workers (conn_id, host, pid)"
		 " VALUES (CONNECTION_ID(), ?, ?) ON DUPLICATE KEY UPDATE"
		 " host = VALUES(host), pid = VALUES(pid), started_at = NOW()",
		 NULL, DBS(host), DBI(getpid())))
		*reg = db_thread_id(a->db);
}

/* Active health: a backend whose cool-down has ended gets a probe (GET of
 * its model list, bkadmin.c) instead of waiting for a client's request to
 * find out; a success lets it back at full strength. */
static void worker_probe(struct app *a)
{
	struct db_res res;
	char why[300];
	long ms;
	int status;

	if (DBX(a->db, "SELECT IF(s.backend_id = 0, 'default', b.name) FROM backend_state s"
		" LEFT JOIN backends b ON b.id = s.backend_id"
		" WHERE s.cool_until IS NOT NULL AND s.cool_until <= NOW(3)"
		" AND (s.backend_id = 0 OR b.enabled = 1) LIMIT ?", &res, DBI(8)))
		return;
	for (unsigned i = 0; i < res.nrows; i++) {
		const char *name = db_res_str(&res, i, 0);
		if (!name || bk_test(a, name, &status, &ms, why, sizeof(why)))
			continue;
		log_info("probe of backend %s: %s (HTTP %d, %ld ms)", name,
			 why[0] ? why : "ok", status, ms);
	}
	db_res_free(&res);
}

/* Once a minute: the log's old end (log_retention_days; at most 2 s of
 * small batches, so queued work waits little: a backlog of years is worked
 * off over the following minutes, or at once with `relayctl log purge`)
 * and the /metrics rollup, so the counters follow even when nobody
 * scrapes. */
static void worker_log_chores(struct app *a)
{
	long long rows;

	if (a->cfg.log_retention_days > 0) {
		struct retain_opts o = { .days = a->cfg.log_retention_days,
			.archive = a->cfg.log_archive, .batch = RETAIN_BATCH_DEFAULT,
			.pause_ms = RETAIN_PAUSE_DEFAULT, .max_seconds = 2.0 };
		struct retain_result r;

		if (!retain_purge(a->db, &o, &r) && r.deleted)
			log_info("log retention: %s %lld request_log row(s) older than %d day(s)%s",
				 o.archive ? "archived" : "deleted", r.deleted, o.days,
				 r.done ? "" : " (more left for the next round)");
	}
	if (metrics_rollup(a->db, &rows))
		log_warn("metrics rollup failed: %s", db_error(a->db));
}

/* Housekeeping of the first worker: dead workers' items, old results,
 * registrations of workers that are gone, probes of cooled-down backends. */
static void worker_chores(struct app *a, double now, double *last_recover,
			  double *last_purge)
{
	int n;

	if (now - *last_recover >= 5.0) {
		if (!queue_recover(a->db, &n) && n)
			log_info("recovered %d item(s) from dead workers or clients", n);
		worker_probe(a);
		*last_recover = now;
	}
	if (now - *last_purge >= 60.0) {
		if (!queue_purge(a->db, &a->cfg, &n) && n)
			log_info("purged %d finished item(s)", n);
		db_exec(a->db, "DELETE FROM queue_workers WHERE conn_id NOT IN"
			" (SELECT ID FROM information_schema.PROCESSLIST)", NULL, 0, NULL);
		worker_log_chores(a);
		*last_purge = now;
	}
}

/* One wait step: 1 when an item was processed, 0 when none was had. */
static int worker_step(struct app *a, double nap)
{
	const struct cfg *c = &a->cfg;
	struct queue_item it;
	struct db_res res;
	struct slot s;
	long long id;
	const char *st;
	enum relay_err rc;

	rc = DBX(a->db, "CALL relay_wait(0, ?, ?, ?, ?, ?, ?)", &res, DBS(c->lock_prefix),
		 DBI(c->upstream_slots), DBI(slot_first(c->upstream_slots)),
		 DBI((long long)(nap * 1000.0)), DBI(c->queue_wait_max),
		 DBI(backend_dflt_mask(c)));
	if (rc && db_cut_short(a->db)) {
		/* a late kill of the nap, or a deadlock, cut the step short:
		 * relay_wait_resume finishes or undoes what it had done */
		log_info("the wait step was cut short (MariaDB error %u); resuming it",
			 db_errno(a->db));
		rc = DBX(a->db, "CALL relay_wait_resume(0, ?, ?, ?)", &res,
			 DBS(c->lock_prefix), DBI(c->upstream_slots),
			 DBI(c->queue_wait_max));
	}
	if (rc) {
		worker_sleep_ms(1000);   /* database down: retry gently */
		return 0;
	}
	st = db_res_str(&res, 0, 1);
	if (!st || strcmp(st, "got") != 0 || !db_res_str(&res, 0, 0)) {
		long long ms = db_res_int(&res, 0, 3, 0);

		db_res_free(&res);
		if (ms > 0)
			dispatch_nap_blocking(a->db, ms);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", db_res_str(&res, 0, 0));
	s.held = 1;
	s.gen = db_generation(a->db);
	id = db_res_int(&res, 0, 2, 0);
	db_res_free(&res);
	if (queue_load(a->db, c, id, &it) == RE_OK) {
		worker_process(a, &it, &s);
		queue_item_free(&it);
	}
	/* Free the slot and the item's user's concurrency lock (taken by
	 * the claim, relay_cap_free) and wake whoever is next, in one round trip. */
	DBX(a->db, "CALL relay_release(?, ?, ?, ?)", NULL, DBS(s.name),
	    DBS(c->lock_prefix), DBI(c->upstream_slots), DBI(c->queue_wait_max));
	return 1;
}

/* The loop of one worker process; idx 0 also does the chores. */
static int worker_loop(struct app *a, const struct worker_opts *o, int idx)
{
	double start = worker_now(), last_recover = 0, last_purge = 0;
	unsigned long reg = 0, done = 0;

	while (!worker_stop) {
		double now = worker_now();
		double left = o->loop ? 3600.0 : o->max_seconds - (now - start);
		int waiting = 0;

		if (left <= 0)
			break;
		if (idx == 0)
			worker_chores(a, now, &last_recover, &last_purge);
		if (o->once) {
			if (queue_waiting(a->db, &waiting)) {
				worker_sleep_ms(1000);
				continue;
			}
			if (!waiting)
				break;
		}
		worker_register(a, &reg);
		done += (unsigned long)worker_step(a, left < 2.0 ? left : 2.0);
	}
	if (reg)
		db_exec(a->db, "DELETE FROM queue_workers WHERE conn_id = CONNECTION_ID()",
			NULL, 0, NULL);
	if (o->verbose || done)
		log_info("worker exiting after %lu item(s)", done);
	return 0;
}

static pid_t worker_kids[1000];
static int worker_nkids;

static void worker_pass_term(int sig)
{
	worker_stop = 1;
	for (int i = 0; i < worker_nkids; i++)
		if (worker_kids[i] > 0)
			kill(worker_kids[i], sig);
}

int worker_run(struct app *a, const struct worker_opts *o)
{
	struct sigaction sa;
	int n = o->workers ? o->workers : o->once ? 1 : a->cfg.upstream_slots;

	if (n > (int)(sizeof(worker_kids) / sizeof(worker_kids[0])))
		n = (int)(sizeof(worker_kids) / sizeof(worker_kids[0]));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (n <= 1)
		return worker_loop(a, o, 0);
	/* One process per slot, so every slot can drain at once. Nothing has
	 * connected yet: each child makes its own database connection and
	 * upstream connection from the handles it inherits unused. */
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			worker_nkids = 0;
			return worker_loop(a, o, i);
		}
		if (pid < 0) {
			log_error("fork failed; %d worker(s) running", worker_nkids);
			break;
		}
		worker_kids[worker_nkids++] = pid;
	}
	sa.sa_handler = worker_pass_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (int left = worker_nkids; left > 0;) {
		pid_t pid = wait(NULL);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		left--;
	}
	return 0;
}
