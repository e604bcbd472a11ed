/* admit.c - one-round-trip admission: relay_admit_fast when it applies,
 * else relay_admit (see admit.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "admit.h"
#include "clip.h"
#include "backend.h"
#include "meter.h"
#include "meterc.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "sha256.h"

/* Keys whose user's own settings (a daily request or token limit, a
 * concurrency cap) send them to relay_admit: not tried on the fast path again for a
 * minute, so such a user pays one round trip, not two. Only a hint: both
 * paths decide from the database. */
#define ADMIT_HINTS 16
#define ADMIT_HINT_S 60

static struct {
	char hex[65];
	time_t until;
} admit_hint[ADMIT_HINTS];
static unsigned admit_hint_next;

static int admit_hinted(const char *hex)
{
	time_t now = time(NULL);

	for (unsigned i = 0; i < ADMIT_HINTS; i++)
		if (admit_hint[i].until > now && memcmp(admit_hint[i].hex, hex, 64) == 0)
			return 1;
	return 0;
}

static void admit_hint_add(const char *hex)
{
	unsigned i = admit_hint_next++ % ADMIT_HINTS;

	memcpy(admit_hint[i].hex, hex, 65);
	admit_hint[i].until = time(NULL) + ADMIT_HINT_S;
}

/* The registration with meterd of a request admitted on the fast path:
 * its tombstone, the row meterd writes should this process end first. */
static int admit_register(const struct admit_in *in, const struct admit *ad)
{
	struct meter_rec m;

	memset(&m, 0, sizeof(m));
	m.user_id = ad->u.user_id;
	m.key_id = ad->u.key_id;
	m.admit_id = ad->u.admit_id;
	m.fmt = in->fmt;
	m.model = in->model ? in->model : "";
	m.stream = in->stream;
	m.route = in->route;
	m.day = ad->u.day;
	m.http_status = 500;
	return meterc_register(in->mc, &m);
}

/* The fast admission (sql/schema/021 says why it is not a procedure). Columns
 * 0-11 as relay_admit's key columns (auth_decode: key id, hash, revoked,
 * expired, user id, name, enabled, daily requests, daily tokens, priority;
 * 10 max_concurrent, 11 the key's model allow-list), 12 today's tokens (for a
 * token limit's headers), 13 the slot taken: 1-4 (which of the four
 * names, tried in order: CASE stops at the first it gets), 0 all four
 * taken by others, NULL not tried (not this path: the conditions are
 * relay_admit's legacy path, for a user without a request limit
 * or a cap), 14 a new admission id (UUID_SHORT, as relay_reserve's), 15 1
 * when the user's own settings send it to relay_admit (a token limit is
 * one of them: the limit must see the tokens of requests that finished but
 * are not yet written, which are on in-flight entries, and the fast path
 * has none), 16 the user's allow-list (auth_decode meets the two).
 * Parameters: the day twice, the format, four slots' lock names
 * (relay_slot_name's,
 * '<prefix>:slot:<i>'), the day, the key's hash. */
#define ADMIT_TRIES 4
#define ADMIT_FAST_SQL \
	"SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL," \
	" (k.expires_at IS NOT NULL AND k.expires_at < ?)," \
	" u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority," \
	" u.max_concurrent, k.models, COALESCE(d.tokens, 0)," \
	" IF(k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at >= ?)" \
	"    AND u.enabled = 1 AND u.daily_requests = 0 AND u.max_concurrent = 0" \
	"    AND u.daily_tokens = 0" \
	"    AND NOT EXISTS (SELECT 1 FROM queue WHERE status = 'waiting')" \
	"    AND NOT EXISTS (SELECT 1 FROM backends WHERE enabled = 1 AND format = ?)" \
	"    AND NOT EXISTS (SELECT 1 FROM model_backends)" \
	"    AND NOT EXISTS (SELECT 1 FROM backend_state" \
	"                      WHERE backend_id = 0 AND cool_until IS NOT NULL)," \
	"    CASE WHEN GET_LOCK(?, 0) = 1 THEN 1 WHEN GET_LOCK(?, 0) = 1 THEN 2" \
	"         WHEN GET_LOCK(?, 0) = 1 THEN 3 WHEN GET_LOCK(?, 0) = 1 THEN 4" \
	"         ELSE 0 END, NULL)," \
	" UUID_SHORT() & 0x7FFFFFFFFFFFFFFF," \
	" u.daily_requests > 0 OR u.max_concurrent > 0 OR u.daily_tokens > 0, u.models" \
	" FROM api_keys k JOIN users u ON u.id = k.user_id" \
	" LEFT JOIN daily_usage d ON d.user_id = u.id AND d.day = ?" \
	" WHERE k.key_hash = ?"

/* The concurrency cap of a user whose own max_concurrent is 0 (cfg.h). */
static int admit_ucap(const struct cfg *c)
{
	if (c->user_max_concurrent >= 0)
		return c->user_max_concurrent;
	return c->upstream_slots / 2 > 1 ? c->upstream_slots / 2 : 1;
}

/* The fast admission: 1 when it admitted the request (a slot held,
 * registered with meterd), 0 when it answered the key (ad->auth not OK:
 * the answer relay_admit would give), -1 when relay_admit must decide;
 * *rc set when the database failed. */
static int admit_fast(struct db *db, const struct cfg *c, const struct admit_in *in,
		      const char *hex, struct admit *ad, enum relay_err *rc)
{
	struct db_res res;
	char slot[ADMIT_TRIES][96];
	long long got;
	int first, out = -1;

	/* a default concurrency cap needs relay_admit's user locks */
	if (admit_ucap(c) > 0 || !in->mc ||
	    !(backend_dflt_mask(c) & (in->fmt == FMT_ANTHROPIC ? 2 : 1)) ||
	    db_in_txn(db) || admit_hinted(hex) || !meterc_ready(in->mc, db))
		return -1;
	/* four slots in a row from a random one, as relay_admit's loop
	 * goes (it tries them all when these are taken) */
	first = slot_first(c->upstream_slots);
	for (int i = 0; i < ADMIT_TRIES; i++)
		snprintf(slot[i], sizeof(slot[i]), "%s:slot:%d", c->lock_prefix,
			 (first - 1 + i) % c->upstream_slots + 1);
	*rc = DBX(db, ADMIT_FAST_SQL, &res, DBS(in->today), DBS(in->today),
		  DBS(fmt_name(in->fmt)), DBS(slot[0]), DBS(slot[1]), DBS(slot[2]),
		  DBS(slot[3]), DBS(in->today), DBB(hex, 64));
	if (*rc)
		return 0;
	ad->auth = auth_decode(&res, 11, 16, hex, in->today, &ad->u);
	if (ad->auth != AUTH_OK) {
		out = 0;
		goto done;
	}
	if (db_res_int(&res, 0, 15, 0))
		admit_hint_add(hex);
	got = db_res_int(&res, 0, 13, 0);
	if (got < 1 || got > ADMIT_TRIES)
		goto done;
	/* admitted, slot held: the entry is meterd's registration */
	ad->limit = LIMIT_OK;
	ad->tokens_used = db_res_int(&res, 0, 12, 0);
	ad->u.admit_id = db_res_int(&res, 0, 14, 0);
	ad->slot = SLOT_GOT;
	snprintf(ad->s.name, sizeof(ad->s.name), "%s", slot[got - 1]);
	ad->s.held = 1;
	ad->s.gen = db_generation(db);
	if (admit_register(in, ad) == 0) {
		ad->u.md = 1;
		out = 1;
		goto done;
	}
	/* meterd did not take it: give the slot back, relay_admit decides */
	if (db_exec(db, "DO RELEASE_ALL_LOCKS()", NULL, 0, NULL))
		log_warn("letting go of the fast path's slot: %s", db_error(db));
	memset(ad, 0, sizeof(*ad));
done:
	db_res_free(&res);
	return out;
}

enum relay_err admit_request(struct db *db, const struct cfg *c,
			     const struct admit_in *in, struct admit *ad)
{
	struct db_res res;
	enum relay_err rc = RE_OK;
	const char *model = in->model ? in->model : "";
	char hex[65];
	size_t n;
	long long slot;

	memset(ad, 0, sizeof(*ad));
	ad->auth = AUTH_MISSING;
	if (!in->key || !*in->key)
		return RE_OK;
	ad->auth = AUTH_INVALID;
	n = strlen(in->key);
	if (n > AUTH_KEY_MAX)
		return RE_OK;
	sha256_hex(in->key, n, hex);
	if (admit_fast(db, c, in, hex, ad, &rc) >= 0)
		return rc;
	memset(ad, 0, sizeof(*ad));
	ad->auth = AUTH_INVALID;
	rc = DBX(db, "CALL relay_admit(?, ?, ?, ?, ?, ?, ?, ?, ?)", &res, DBB(hex, 64),
		 DBS(in->today), DBS(c->lock_prefix), DBI(c->upstream_slots),
		 DBI(slot_first(c->upstream_slots)), DBS(fmt_name(in->fmt)),
		 DBB(model, clip_utf8(model, 255)), DBI(backend_dflt_mask(c)),
		 DBI(admit_ucap(c)));
	if (rc)
		return rc;
	ad->auth = auth_decode(&res, 14, 18, hex, in->today, &ad->u);
	if (ad->auth != AUTH_OK)
		goto out;
	/* today's counters come back admitted or not */
	ad->requests_used = db_res_int(&res, 0, 11, 0);
	ad->tokens_used = db_res_int(&res, 0, 12, 0);
	if (db_res_int(&res, 0, 16, 0)) {
		ad->limit = LIMIT_CONCURRENT;   /* nothing was reserved */
		goto out;
	}
	if (!db_res_int(&res, 0, 10, 0)) {
		ad->limit = ad->u.daily_requests > 0 &&
			ad->requests_used >= ad->u.daily_requests ?
			LIMIT_REQUESTS : LIMIT_TOKENS;
		goto out;
	}
	ad->u.admit_id = db_res_int(&res, 0, 17, 0);
	slot = db_res_int(&res, 0, 13, 0);
	if (slot > 0 && db_res_str(&res, 0, 15)) {
		/* The procedure names the lock it took: the name's format
		 * lives in SQL only. */
		ad->slot = SLOT_GOT;
		snprintf(ad->s.name, sizeof(ad->s.name), "%s", db_res_str(&res, 0, 15));
		ad->s.held = 1;
		ad->s.gen = db_generation(db);
	} else {
		ad->slot = slot == -2 ? SLOT_NONE : slot < 0 ? SLOT_QUEUE_AHEAD : SLOT_BUSY;
	}
out:
	db_res_free(&res);
	return RE_OK;
}

/* Columns 0-9 as auth_check's (auth_decode), 10 the key's allow-list,
 * 11 today's requests (durable and in flight, relay_requests_used), 12
 * today's tokens, 13 the user's allow-list (auth_decode meets the two).
 * Parameters: the day three times, the key's hash. */
#define ADMIT_PEEK_SQL \
	"SELECT k.id, k.key_hash, k.revoked_at IS NOT NULL," \
	" (k.expires_at IS NOT NULL AND k.expires_at < ?)," \
	" u.id, u.name, u.enabled, u.daily_requests, u.daily_tokens, u.priority," \
	" k.models, relay_requests_used(u.id, ?), COALESCE(d.tokens, 0), u.models" \
	" FROM api_keys k JOIN users u ON u.id = k.user_id" \
	" LEFT JOIN daily_usage d ON d.user_id = u.id AND d.day = ?" \
	" WHERE k.key_hash = ?"

enum relay_err admit_peek(struct db *db, const char *key, const char *today,
			  struct admit *ad)
{
	struct db_res res;
	enum relay_err rc;
	char hex[65];
	size_t n;

	memset(ad, 0, sizeof(*ad));
	ad->slot = SLOT_NONE;
	ad->auth = AUTH_MISSING;
	if (!key || !*key)
		return RE_OK;
	ad->auth = AUTH_INVALID;
	n = strlen(key);
	if (n > AUTH_KEY_MAX)
		return RE_OK;
	sha256_hex(key, n, hex);
	rc = DBX(db, ADMIT_PEEK_SQL, &res, DBS(today), DBS(today), DBS(today), DBB(hex, 64));
	if (rc)
		return rc;
	ad->auth = auth_decode(&res, 10, 13, hex, today, &ad->u);
	if (ad->auth == AUTH_OK) {
		ad->requests_used = db_res_int(&res, 0, 11, 0);
		ad->tokens_used = db_res_int(&res, 0, 12, 0);
		if (ad->u.daily_requests > 0 && ad->requests_used >= ad->u.daily_requests)
			ad->limit = LIMIT_REQUESTS;
		else if (ad->u.daily_tokens > 0 && ad->tokens_used >= ad->u.daily_tokens)
			ad->limit = LIMIT_TOKENS;
	}
	db_res_free(&res);
	return RE_OK;
}
