/* mfront.c - the front door of metering (mfront.h). */
#include <stddef.h>
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "meterc.h"
#include "meterq.h"
#include "mfront.h"
#include "web.h"

void mfront_init(struct meter_front *f, const struct cfg *c)
{
	f->cfg = c;
	f->mc = NULL;
	f->mq = NULL;
	f->mq_failed = 0;
}

void mfront_free(struct meter_front *f, struct db *db)
{
	meterc_free(f->mc, db);
	f->mc = NULL;
	meterq_free(f->mq);   /* what it holds is metered first */
	f->mq = NULL;
}

struct meterc *mfront_meterc(struct meter_front *f)
{
	if (!f->cfg || !f->cfg->meter_async || !f->cfg->meter_socket[0] || !web_persistent())
		return NULL;
	if (!f->mc)
		f->mc = meterc_new(f->cfg);
	return f->mc;
}

/* Hands a direct request's metering to bin/meterd or to the metering
 * thread and lets go of this connection's locks; 1 when done so, 0 =
 * meter inline. */
static int mfront_later(struct meter_front *f, struct db *db,
			const struct meter_rec *m, const char *slot)
{
	if (!f || !f->cfg || !f->cfg->meter_async || m->queue_id || !m->admit_id ||
	    db_in_txn(db) || !web_persistent())
		return 0;
	/* the host's metering daemon first (one commit for many requests),
	 * this process's thread when it does not answer */
	if (meterc_holds(f->mc, m->admit_id)) {
		/* registered on the fast path: the record, then relay_let_go */
		if (meterc_finish(f->mc, db, m) == 0)
			return 1;
	} else if (mfront_meterc(f) && meterc_hand(f->mc, db, m, slot) == 0) {
		return 1;   /* the handover let go of the locks */
	}
	if (f->mq_failed)
		return 0;
	if (!f->mq && !(f->mq = meterq_new(f->cfg))) {
		f->mq_failed = 1;
		return 0;
	}
	meterq_submit(f->mq, m, slot);
	/* slot, user cap and the request's lock at once: the metering
	 * connection is already asking for the last one. A token limit's
	 * next admission must see this request's tokens before its row is
	 * written: they go on its entry first (relay_pend). */
	if (m->token_limited && usage_total(&m->usage) > 0 ?
	    DBX(db, "CALL relay_pend(?, ?)", NULL, DBI(m->admit_id),
		DBI(usage_total(&m->usage))) :
	    db_exec(db, "DO RELEASE_ALL_LOCKS()", NULL, 0, NULL))
		log_warn("releasing the request's locks: %s", db_error(db));
	return 1;
}

enum relay_err meter_finish(struct meter_front *f, struct db *db,
			    const struct meter_rec *m, const char *slot)
{
	if (mfront_later(f, db, m, slot))
		return RE_OK;
	return meter_record(db, m, slot);
}
