/* admit.c - one-round-trip admission through relay_admit. */
#include <stdio.h>
#include <string.h>
#include "admit.h"
#include "backend.h"
#include "meter.h"
#include "cfg.h"
#include "db.h"
#include "sha256.h"

enum relay_err admit_request(struct db *db, const struct cfg *c,
			     const char *key, const char *today, enum fmt_kind f,
			     const char *model, struct admit *ad)
{
	struct db_res res;
	enum relay_err rc;
	char hex[65];
	size_t n;
	long long slot;

	memset(ad, 0, sizeof(*ad));
	ad->auth = AUTH_MISSING;
	if (!key || !*key)
		return RE_OK;
	ad->auth = AUTH_INVALID;
	n = strlen(key);
	if (n > AUTH_KEY_MAX)
		return RE_OK;
	sha256_hex(key, n, hex);
	if (!model)
		model = "";
	rc = DBX(db, "CALL relay_admit(?, ?, ?, ?, ?, ?, ?, ?)", &res, DBB(hex, 64),
		 DBS(today), DBS(c->lock_prefix), DBI(c->upstream_slots),
		 DBI(slot_first(c->upstream_slots)), DBS(fmt_name(f)),
		 DBB(model, meter_clip(model, 255)), DBI(backend_dflt_mask(c)));
	if (rc)
		return rc;
	ad->auth = auth_decode(&res, 14, hex, today, &ad->u);
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
