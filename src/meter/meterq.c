/* meterq.c - the metering thread of a web process (see meterq.h). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meterq.h"
#include "meterw.h"

/* A few requests' worth: the thread keeps up unless the database stalls,
 * and then the requests wait as they did when they metered inline. */
#define MQ_CAP 16

struct meterq {
	const struct cfg *c;
	struct db *db;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct meterw_rec *v;   /* the request's memory is gone by the time
				   the thread gets to its copy */
	unsigned head, n;
	int stop;
};

void meterq_record(struct db *db, const struct cfg *c, const struct meterw_rec *it)
{
	struct meter_rec m;
	char lock[200];

	log_set_request(it->reqid);
	meterw_view(it, &m);
	/* the request's liveness lock first: its connection lets go of it
	 * right after handing the item over, and waiting for it here makes
	 * it pass to this connection without a moment unheld (a sweep would
	 * take the entry for dead; relay_settle would mend that, at a cost) */
	snprintf(lock, sizeof(lock), "%s:req:%lld", c->lock_prefix, m.admit_id);
	if (DBX(db, "DO GET_LOCK(?, 30)", NULL, DBS(lock)))
		log_warn("metering: the request's lock: %s", db_error(db));
	if (meter_record(db, &m, it->has_slot ? it->slot : NULL))
		log_error("metering failed (admission %lld, user %lld): %s", m.admit_id,
			  m.user_id, db_error(db));
	log_set_request("");
}

static void *mq_main(void *arg)
{
	struct meterq *q = arg;

	db_thread_init();
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->n && !q->stop)
			pthread_cond_wait(&q->more, &q->mu);
		if (!q->n)
			break;
		pthread_mutex_unlock(&q->mu);
		/* the slot stays taken until it is metered: submit never
		 * writes over an item in progress */
		meterq_record(q->db, q->c, &q->v[q->head]);
		pthread_mutex_lock(&q->mu);
		q->head = (q->head + 1) % MQ_CAP;
		q->n--;
		pthread_cond_signal(&q->room);
	}
	pthread_mutex_unlock(&q->mu);
	db_thread_end();
	return NULL;
}

struct meterq *meterq_new(const struct cfg *c)
{
	struct meterq *q = calloc(1, sizeof(*q));
	sigset_t all, old;
	int rc;

	if (!q)
		return NULL;
	q->c = c;
	q->v = calloc(MQ_CAP, sizeof(*q->v));
	q->db = db_new(c);
	if (!q->v || !q->db) {
		db_close(q->db);
		free(q->v);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->room, NULL);
	/* signals (SIGTERM: stop after this request) stay the main thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->th, NULL, mq_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warn("metering thread not started (error %d): metering inline", rc);
		pthread_cond_destroy(&q->room);
		pthread_cond_destroy(&q->more);
		pthread_mutex_destroy(&q->mu);
		db_close(q->db);
		free(q->v);
		free(q);
		return NULL;
	}
	return q;
}

void meterq_submit(struct meterq *q, const struct meter_rec *m, const char *slot)
{
	struct meterw_rec *it;

	pthread_mutex_lock(&q->mu);
	while (q->n == MQ_CAP)
		pthread_cond_wait(&q->room, &q->mu);
	it = &q->v[(q->head + q->n) % MQ_CAP];
	pthread_mutex_unlock(&q->mu);
	/* a free slot of the ring is the submitter's alone until counted */
	meterw_fill(it, m, slot, log_request());
	pthread_mutex_lock(&q->mu);
	q->n++;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
}

void meterq_free(struct meterq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	pthread_cond_destroy(&q->room);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->mu);
	db_close(q->db);
	free(q->v);
	free(q);
}
