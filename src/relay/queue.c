/* queue.c - enqueue, claim, finish, recover, purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "clip.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "mfront.h"
#include "queue.h"
#include "relay.h"
#include "slot.h"

enum relay_err queue_push(struct db *db, const struct cfg *c,
			  const struct queue_new *q, long long *id,
			  enum queue_refusal *refused)
{
	static const char enq[] =
		"CALL relay_enqueue(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	const char *model = q->model ? q->model : "";
	struct db_res res;
	enum relay_err rc;
	int tries = 0;

	*id = 0;
	*refused = QUEUE_OK;
again:
	rc = DBX(db, enq, &res, DBS(c->lock_prefix), DBI(q->u->user_id),
		 DBI(q->u->key_id), DBI(q->u->priority), DBS(fmt_name(q->fmt)),
		 DBB(model, clip_utf8(model, 255)), DBI(q->stream ? 1 : 0),
		 DBS(q->route ? q->route : "call"), DBS(q->headers_json),
		 q->body ? DBB(q->body, q->body_len) : DBNULL,
		 DBI(c->queue_max), DBS(q->waitlock),
		 q->u->admit_id ? DBI(q->u->admit_id) : DBNULL);
	/* a deadlock victim (its insert against a finish's daily_usage
	 * update) or a late kill of a nap: relay_enqueue left nothing of
	 * it, so it runs again */
	if (rc && db_cut_short(db) && ++tries < 3)
		goto again;
	if (rc)
		return rc;
	*id = db_res_int(&res, 0, 0, 0);
	switch (db_res_int(&res, 0, 1, 3)) {
	case 0:
		break;
	case 1:
		*refused = QUEUE_FULL;
		break;
	case 2:
		*refused = QUEUE_USER_FULL;
		break;
	default:
		rc = RE_EBUSY;
		break;
	}
	if (*refused || rc)
		*id = 0;
	db_res_free(&res);
	return rc;
}

enum relay_err queue_position(struct db *db, long long id, int priority,
			      long long *pos, long long *total)
{
	static const char q[] =
		"SELECT (SELECT COUNT(*) FROM queue WHERE status = 'waiting' AND"
		" (priority > ? OR (priority = ? AND id < ?))),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'waiting')";
	struct db_res res;
	enum relay_err rc = DBX(db, q, &res, DBI(priority), DBI(priority), DBI(id));

	if (rc)
		return rc;
	*pos = db_res_int(&res, 0, 0, 0) + 1;
	*total = db_res_int(&res, 0, 1, 0);
	db_res_free(&res);
	return RE_OK;
}

enum relay_err queue_waiting(struct db *db, int *yes)
{
	struct db_res res;
	enum relay_err rc = db_exec(db,
		"SELECT EXISTS(SELECT 1 FROM queue WHERE status = 'waiting'"
		" AND inline_wait = 0 AND (not_before IS NULL OR not_before <= NOW()))",
		NULL, 0, &res);

	*yes = 0;
	if (rc)
		return rc;
	*yes = db_res_int(&res, 0, 0, 0) == 1;
	db_res_free(&res);
	return RE_OK;
}

void queue_item_free(struct queue_item *it)
{
	free(it->headers);
	free(it->body);
	it->headers = it->body = NULL;
}

/* Takes ownership of a result cell (so big bodies are not copied). */
static char *queue_take(struct db_res *r, unsigned row, unsigned col)
{
	char *s;

	if (!r->cell || row >= r->nrows || col >= r->ncols)
		return NULL;
	s = r->cell[(size_t)row * r->ncols + col];
	r->cell[(size_t)row * r->ncols + col] = NULL;
	return s;
}

enum relay_err queue_load(struct db *db, const struct cfg *c, long long id,
			  struct queue_item *it)
{
	static const char sel[] =
		"SELECT id, user_id, key_id, priority, format, model, stream,"
		" headers, body, attempts, retries, metered FROM queue"
		" WHERE id = ? AND status = 'processing'";
	struct db_res res;
	enum relay_err rc;

	memset(it, 0, sizeof(*it));
	snprintf(it->lock, sizeof(it->lock), "%s:item:%lld", c->lock_prefix, id);
	it->lock_gen = db_generation(db);   /* relay_wait took it on this one */
	rc = DBX(db, sel, &res, DBI(id));
	if (rc)
		return rc;
	if (res.nrows == 0) {
		db_res_free(&res);
		return RE_ENOTFOUND;
	}
	it->id = db_res_int(&res, 0, 0, 0);
	it->user_id = db_res_int(&res, 0, 1, 0);
	it->key_id = db_res_int(&res, 0, 2, 0);
	it->priority = (int)db_res_int(&res, 0, 3, 0);
	it->fmt = strcmp(db_res_str(&res, 0, 4) ? db_res_str(&res, 0, 4) : "",
			 "anthropic") == 0 ? FMT_ANTHROPIC : FMT_OPENAI;
	snprintf(it->model, sizeof(it->model), "%s",
		 db_res_str(&res, 0, 5) ? db_res_str(&res, 0, 5) : "");
	it->stream = (int)db_res_int(&res, 0, 6, 0);
	it->headers = queue_take(&res, 0, 7);
	it->body_len = db_res_len(&res, 0, 8);
	it->body = queue_take(&res, 0, 8);
	it->attempts = (int)db_res_int(&res, 0, 9, 0);
	it->retries = (int)db_res_int(&res, 0, 10, 0);
	it->metered = db_res_int(&res, 0, 11, 0) != 0;
	db_res_free(&res);
	return RE_OK;
}

/* Marks a claimed item finished and meters it in one transaction; oc is the
 * exchange's outcome, or NULL when the item never reached the upstream. */
static enum relay_err queue_close(struct db *db, struct queue_item *it,
				  const char *status, int http_status,
				  const char *content_type, const char *resp,
				  size_t resp_len, const char *err,
				  const struct relay_outcome *oc)
{
	static const char upd[] =
		"UPDATE queue SET status = ?, http_status = ?, content_type = ?,"
		" response = ?, error_message = ?, completed_at = NOW(), metered = 1"
		" WHERE id = ? AND status = 'processing' AND attempts = ?";
	struct meter_rec m;
	enum relay_err rc;

	memset(&m, 0, sizeof(m));
	m.user_id = it->user_id;
	m.key_id = it->key_id;
	m.queue_id = it->id;
	m.fmt = it->fmt;
	m.model = it->model;
	m.stream = it->stream;
	m.http_status = http_status;
	m.error = err;
	if (oc) {
		m.usage = oc->usage;
		m.latency_ms = oc->latency_ms;
	}
	rc = db_begin(db);
	if (rc)
		goto out;
	rc = DBX(db, upd, NULL, DBS(status), DBI(http_status), DBS(content_type),
		 resp ? DBB(resp, resp_len) : DBNULL,
		 err ? DBB(err, clip_utf8(err, 1000)) : DBNULL,
		 DBI(it->id), DBI(it->attempts));
	if (rc)
		goto fail;
	if (db_affected(db) != 1) {
		/* Recovered and re-claimed meanwhile: that claim owns it now. */
		log_warn("queue item %lld no longer ours; result dropped", it->id);
		rc = RE_ENOTFOUND;
		goto fail;
	}
	/* An item put back by `relayctl queue retry` after it reached the
	 * upstream keeps its one request_log row (unique queue_id). */
	if (!it->metered) {
		m.backend = it->backend[0] ? it->backend : NULL;
		rc = meter_finish(NULL, db, &m, NULL);   /* in this transaction */
		if (rc)
			goto fail;
	}
	rc = db_commit(db);
	goto out;
fail:
	db_rollback(db);
out:
	lock_release(db, it->lock);
	return rc;
}

enum relay_err queue_finish(struct db *db, struct queue_item *it,
			    const struct relay_outcome *oc,
			    const char *content_type,
			    const char *response, size_t response_len)
{
	char why[320];
	int failed = oc->err != RE_OK || oc->status >= 400;

	if (oc->error[0])
		snprintf(why, sizeof(why), "%s", oc->error);
	else if (failed)
		snprintf(why, sizeof(why), "上游返回HTTP %d", oc->status);
	else
		why[0] = '\0';
	/* An upstream 4xx/5xx ends the item as failed, but its body is kept:
	 * queue_status shows it next to the error message. */
	return queue_close(db, it, failed ? "failed" : "completed", oc->status,
			   content_type, response_len ? response : NULL,
			   response_len, why[0] ? why : NULL, oc);
}

enum relay_err queue_fail(struct db *db, struct queue_item *it, int http_status,
			  const char *why)
{
	return queue_close(db, it, "failed", http_status, NULL, NULL, 0, why, NULL);
}

int queue_busy_delay(int retries, int retry_after)
{
	int d = retry_after;

	if (d < 0)
		d = retries >= 0 && retries < 9 ? 1 << retries : QUEUE_BUSY_MAX_DELAY;
	if (d < 1)
		d = 1;
	return d > QUEUE_BUSY_MAX_DELAY ? QUEUE_BUSY_MAX_DELAY : d;
}

enum relay_err queue_retry(struct db *db, struct queue_item *it, int delay_s)
{
	static const char upd[] =
		"UPDATE queue SET status = 'waiting', started_at = NULL, worker = NULL,"
		" retries = retries + 1, not_before = NOW() + INTERVAL ? SECOND"
		" WHERE id = ? AND status = 'processing' AND attempts = ?";
	enum relay_err rc;

	rc = DBX(db, upd, NULL, DBI(delay_s), DBI(it->id), DBI(it->attempts));
	if (!rc && db_affected(db) != 1) {
		log_warn("queue item %lld no longer ours; retry dropped", it->id);
		rc = RE_ENOTFOUND;
	}
	lock_release(db, it->lock);
	return rc;
}

/* Inline rows whose client process died: nothing to re-send (the body
 * went with the process), so each ends failed with its one log row. */
static enum relay_err queue_recover_inline(struct db *db, int *n)
{
	static const char sel[] =
		"SELECT id, status FROM queue WHERE inline_wait = 1"
		" AND status IN ('waiting', 'processing')"
		" AND (worker IS NULL OR IS_USED_LOCK(worker) IS NULL"
		"      OR IS_USED_LOCK(worker) <> wait_conn) ORDER BY id LIMIT 100";
	struct db_res res;
	enum relay_err rc = db_exec(db, sel, NULL, 0, &res);

	if (rc)
		return rc;
	for (unsigned i = 0; i < res.nrows; i++) {
		const char *st = db_res_str(&res, i, 1);
		const char *why = st && strcmp(st, "processing") == 0 ?
			"relay process died during the upstream exchange" :
			"client gone while queued";
		if (!DBX(db, "CALL relay_close_dead(?, ?)", NULL,
			 DBI(db_res_int(&res, i, 0, 0)), DBS(why)))
			(*n)++;
	}
	db_res_free(&res);
	return RE_OK;
}

enum relay_err queue_recover(struct db *db, int *n)
{
	/* A grace of a few seconds covers the instant between a claim's
	 * commit and nothing else: the lock is taken before the commit. */
	static const char sel[] =
		"SELECT id, worker, attempts, user_id, key_id, format, model, stream,"
		" metered, CAST(attempts AS SIGNED) - CAST(retries AS SIGNED)"
		" FROM queue WHERE status = 'processing' AND inline_wait = 0"
		" ORDER BY id LIMIT 100";
	static const char lock_row[] =
		"SELECT status, attempts FROM queue WHERE id = ? FOR UPDATE";
	static const char requeue[] =
		"UPDATE queue SET status = 'waiting', started_at = NULL, worker = NULL"
		" WHERE id = ? AND status = 'processing' AND attempts = ?";
	struct db_res res;
	enum relay_err rc;

	*n = 0;
	rc = queue_recover_inline(db, n);
	if (rc)
		return rc;
	/* Direct requests whose relay process died (relay_sweep): each gets its
	 * one log row and stops counting as in flight. */
	rc = db_exec(db, "CALL relay_sweep(0, 100)", NULL, 0, NULL);
	if (rc)
		return rc;
	rc = db_exec(db, sel, NULL, 0, &res);
	if (rc)
		return rc;
	for (unsigned i = 0; i < res.nrows; i++) {
		struct queue_item it;
		struct db_res row;
		const char *worker = db_res_str(&res, i, 1);
		int free_ = 1;
		long long attempts = db_res_int(&res, i, 2, 0);

		if (worker && lock_is_free(db, worker, &free_))
			continue;
		if (!free_)
			continue;  /* its worker is alive */
		memset(&it, 0, sizeof(it));
		it.id = db_res_int(&res, i, 0, 0);
		it.attempts = (int)attempts;
		it.user_id = db_res_int(&res, i, 3, 0);
		it.key_id = db_res_int(&res, i, 4, 0);
		it.fmt = strcmp(db_res_str(&res, i, 5) ? db_res_str(&res, i, 5) : "",
				"anthropic") == 0 ? FMT_ANTHROPIC : FMT_OPENAI;
		snprintf(it.model, sizeof(it.model), "%s",
			 db_res_str(&res, i, 6) ? db_res_str(&res, i, 6) : "");
		it.stream = (int)db_res_int(&res, i, 7, 0);
		it.metered = db_res_int(&res, i, 8, 0) != 0;
		/* claims that ended in a busy retry are not deaths */
		if (db_res_int(&res, i, 9, attempts) >= QUEUE_MAX_ATTEMPTS) {
			/* Take the dead worker's lock so queue_close's
			 * release is balanced; fail it for good. */
			int got = 0;
			snprintf(it.lock, sizeof(it.lock), "%s", worker ? worker : "");
			if (worker && (lock_get(db, worker, 0, &got) || !got))
				continue;
			if (!queue_fail(db, &it, 500, "worker died while processing (3 attempts)"))
				(*n)++;
			continue;
		}
		if (db_begin(db))
			break;
		if (DBX(db, lock_row, &row, DBI(it.id))) {
			db_rollback(db);
			continue;
		}
		if (row.nrows == 1 && db_res_str(&row, 0, 0) &&
		    strcmp(db_res_str(&row, 0, 0), "processing") == 0 &&
		    db_res_int(&row, 0, 1, -1) == attempts &&
		    !DBX(db, requeue, NULL, DBI(it.id), DBI(attempts)) &&
		    !db_commit(db)) {
			log_warn("queue item %lld recovered from a dead worker (attempt %lld)",
				 it.id, attempts);
			(*n)++;
		} else {
			db_rollback(db);
		}
		db_res_free(&row);
	}
	db_res_free(&res);
	return RE_OK;
}

enum relay_err queue_purge(struct db *db, const struct cfg *c, int *n)
{
	static const char del[] =
		"DELETE FROM queue WHERE status IN ('completed', 'failed')"
		" AND completed_at < NOW() - INTERVAL ? HOUR LIMIT 500";
	enum relay_err rc;

	*n = 0;
	for (int round = 0; round < 20; round++) {
		rc = DBX(db, del, NULL, DBI(c->result_retention_hours));
		if (rc)
			return rc;
		*n += (int)db_affected(db);
		if (db_affected(db) < 500)
			break;
	}
	return RE_OK;
}
