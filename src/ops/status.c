/* status.c - the health document of status.php and the docs page (SPEC
 * §6): one builder, so both show the same numbers. */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <json-c/json.h>
#include "app.h"
#include "db.h"
#include "log.h"
#include "meterc.h"
#include "resp.h"
#include "status.h"

/* "scheme://host/..." - enough to recognise the endpoint without exposing
 * a path or query that might carry a credential. */
static void status_url_label(const char *url, char *out, size_t outlen)
{
	const char *host = strstr(url, "://"), *end;

	if (!url[0]) {
		snprintf(out, outlen, "not configured");
		return;
	}
	if (!host) {
		snprintf(out, outlen, "configured");
		return;
	}
	host += 3;
	end = host + strcspn(host, "/?#");
	/* Drop any user:password@ part. */
	{
		const char *at = memchr(host, '@', (size_t)(end - host));
		if (at)
			host = at + 1;
	}
	snprintf(out, outlen, "%.*s%.*s/...", (int)(strstr(url, "://") - url + 3),
		 url, (int)(end - host), host);
}

static struct json_object *status_check(const char *status, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "message", json_object_new_string(msg));
	return o;
}

/* checks.metering: whether bin/meterd takes this host's finished
 * requests (one commit for many: the fast path) or each web process
 * meters on its own (works, slower). Never degrades the status. */
static struct json_object *status_metering(const struct cfg *c)
{
	switch (meterc_probe(c->meter_socket)) {
	case 1:
		return status_check("meterd", "bin/meterd answers: the fast path is on");
	case 0:
		return status_check("slow_path", "meter_socket is set but bin/meterd does not"
				    " answer: each web process meters on its own (slower)");
	default:
		return status_check("slow_path", "meter_socket is not set: each web process"
				    " meters on its own (slower); run bin/meterd");
	}
}

/* "responses" of an OpenAI-format backend (issue 26): whether it serves
 * /responses itself (yes), is chat-only (no: translated; also when the
 * relay learned it) or unknown (auto), as this process sees it. */
static void status_rs(struct app *a, unsigned id, int mask, struct json_object *o)
{
	const struct backend *b = backend_get(&a->bk, id);

	if (!b || !(mask & 1))
		return;
	json_object_object_add(o, "responses", json_object_new_string(
		b->responses == BACKEND_RS_YES ? "yes" : b->responses == BACKEND_RS_NO ? "no" :
		"auto"));
}

/* checks.backends: one entry per backend (the default first) with its
 * state, slots in use and last error; never a key. *down = some backend
 * is cooling down; *none = a format that backends serve has none usable.
 * labels[f] gets the first healthy backend's URL label of format f. */
static struct json_object *status_backends(struct app *a, int *down, int *none,
					   char labels[2][300])
{
	static const char q[] =
		"SELECT b.id, b.name, b.format, b.base_url, b.slots, b.enabled,"
		" relay_slots_used(?, b.id, b.slots), COALESCE(s.fails, 0),"
		" s.cool_until IS NOT NULL AND s.cool_until > NOW(3), s.cool_until IS NOT NULL,"
		" s.last_error, s.last_status"
		" FROM (SELECT 0 AS id, 'default' AS name, '' AS format, '' AS base_url,"
		"   ? AS slots, ? AS enabled UNION ALL SELECT id, name, format, base_url,"
		"   slots, enabled FROM backends) b"
		" LEFT JOIN backend_state s ON s.backend_id = b.id ORDER BY b.id";
	const struct backend *d = &a->bk.dflt;
	struct json_object *arr = json_object_new_array();
	struct db_res res;
	int served[2] = { 0, 0 }, usable[2] = { 0, 0 };
	unsigned i;

	labels[0][0] = labels[1][0] = '\0';
	*down = *none = 0;
	if (DBX(a->db, q, &res, DBS(a->cfg.lock_prefix), DBI(d->slots), DBI(d->enabled)))
		return arr;
	for (i = 0; i < res.nrows; i++) {
		struct json_object *o = json_object_new_object();
		const char *fmt = db_res_str(&res, i, 2), *err = db_res_str(&res, i, 10);
		int id = (int)db_res_int(&res, i, 0, 0), on = (int)db_res_int(&res, i, 5, 0);
		int cooling = (int)db_res_int(&res, i, 8, 0), f, mask;
		const char *state = !on ? "disabled" : cooling ? "down" :
			db_res_int(&res, i, 9, 0) ? "probing" :
			db_res_int(&res, i, 7, 0) ? "failing" : "ok";
		char label[300];

		mask = id == 0 ? d->fmts : fmt && strcmp(fmt, "anthropic") == 0 ? 2 : 1;
		json_object_object_add(o, "name", json_object_new_string(db_res_str(&res, i, 1)));
		json_object_object_add(o, "format", json_object_new_string(
			mask == 3 ? "both" : mask == 2 ? "anthropic" : mask == 1 ? "openai" : "none"));
		if (id == 0)
			snprintf(label, sizeof(label), "legacy settings");
		else
			status_url_label(db_res_str(&res, i, 3), label, sizeof(label));
		json_object_object_add(o, "url", json_object_new_string(label));
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "slots", json_object_new_int((int)db_res_int(&res, i, 4, 0)));
		json_object_object_add(o, "slots_in_use",
				       json_object_new_int((int)db_res_int(&res, i, 6, 0)));
		json_object_object_add(o, "consecutive_failures",
				       json_object_new_int((int)db_res_int(&res, i, 7, 0)));
		json_object_object_add(o, "last_error", err ? json_object_new_string(err) : NULL);
		status_rs(a, (unsigned)id, mask, o);
		json_object_array_add(arr, o);
		if (!on || !mask)
			continue;
		*down |= cooling;
		for (f = 0; f < 2; f++) {
			if (!(mask & (1 << f)))
				continue;
			served[f] = 1;
			if (cooling)
				continue;
			usable[f] = 1;
			if (!labels[f][0] && id != 0)
				snprintf(labels[f], sizeof(labels[f]), "%s", label);
			else if (!labels[f][0])
				status_url_label(f ? a->cfg.anthropic_url : a->cfg.openai_url,
						 labels[f], sizeof(labels[f]));
		}
	}
	db_res_free(&res);
	*none = (served[0] && !usable[0]) || (served[1] && !usable[1]);
	return arr;
}

struct json_object *status_build(struct app *a, int *http_status)
{
	static const char q[] =
		"SELECT (SELECT COUNT(*) FROM users WHERE enabled = 1),"
		" (SELECT COUNT(*) FROM users),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'waiting'),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'processing'),"
		" (SELECT COALESCE(SUM(requests), 0) FROM daily_usage WHERE day = ?)"
		" + relay_inflight(0, ?),"   /* in flight count too */
		" (SELECT COALESCE(SUM(tokens), 0) FROM daily_usage WHERE day = ?),"
		" (SELECT COALESCE(SUM(errors), 0) FROM daily_usage WHERE day = ?)";
	static const char *const stat_names[] = { "active_users", "total_users",
		"queue_length", "processing", "today_requests", "today_tokens",
		"today_errors" };
	struct json_object *o = json_object_new_object(), *checks, *urls, *disk,
		*stats, *conf;
	const struct cfg *c = &a->cfg;
	struct db_res res;
	struct statvfs sv;
	char day[11], ts[32], label[300];
	time_t now = time(NULL);
	struct tm tm;
	int db_ok, degraded = 0, pooled, bk_down = 0, bk_none = 0;
	char labels[2][300];
	struct json_object *bks;

	db_today(day);
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	db_ok = DBX(a->db, q, &res, DBS(day), DBS(day), DBS(day), DBS(day)) == RE_OK;

	checks = json_object_new_object();
	json_object_object_add(checks, "database", db_ok ?
		status_check("connected", "Database connection OK") :
		status_check("error", "Database connection failed"));
	if (db_ok)
		backends_sync(&a->bk, a->db, 0);
	pooled = a->bk.n > 0;
	bks = db_ok && pooled ? status_backends(a, &bk_down, &bk_none, labels) : NULL;
	json_object_object_add(checks, "api_key", c->upstream_api_key[0] || pooled ?
		status_check("configured", "API key is configured") :
		status_check("missing", "API key is not configured"));
	degraded |= !c->upstream_api_key[0] && !pooled;

	json_object_object_add(checks, "metering", status_metering(c));
	urls = json_object_new_object();
	json_object_object_add(urls, "status", json_object_new_string(
		c->openai_url[0] || c->anthropic_url[0] || pooled ? "configured" : "missing"));
	degraded |= !c->openai_url[0] && !c->anthropic_url[0] && !pooled;
	{
		/* with backends: the first healthy one of each format */
		struct json_object *m = json_object_new_object();
		status_url_label(c->openai_url, label, sizeof(label));
		json_object_object_add(m, "openai", json_object_new_string(
			bks && labels[0][0] ? labels[0] : label));
		status_url_label(c->anthropic_url, label, sizeof(label));
		json_object_object_add(m, "anthropic", json_object_new_string(
			bks && labels[1][0] ? labels[1] : label));
		json_object_object_add(urls, "message", m);
	}
	json_object_object_add(checks, "api_urls", urls);
	if (bks)
		json_object_object_add(checks, "backends", bks);
	degraded |= bk_down;

	disk = json_object_new_object();
	if (statvfs(c->disk_path, &sv) == 0 && sv.f_blocks > 0) {
		/* df's Use% for users: what is used over what users may fill
		 * (f_bavail, the same basis as free_bytes; blocks reserved
		 * for root count neither way). Printed with one decimal as
		 * the seed does (29.0), not json-c's %.17g. */
		double ub = (double)(sv.f_blocks - sv.f_bfree);
		double used = ub + (double)sv.f_bavail > 0 ?
			100.0 * ub / (ub + (double)sv.f_bavail) : 0.0;
		char txt[16];

		used = (double)(long long)(used * 10.0 + 0.5) / 10.0;
		snprintf(txt, sizeof(txt), "%.1f", used);
		json_object_object_add(disk, "status", json_object_new_string(
			used >= 95.0 ? "critical" : used >= 90.0 ? "warning" : "ok"));
		json_object_object_add(disk, "usage_percent", json_object_new_double_s(used, txt));
		json_object_object_add(disk, "free_bytes", json_object_new_int64(
			(long long)sv.f_bavail * (long long)sv.f_frsize));
		degraded |= used >= 95.0;
	} else {
		json_object_object_add(disk, "status", json_object_new_string("unknown"));
	}
	json_object_object_add(checks, "disk", disk);

	stats = json_object_new_object();
	for (unsigned i = 0; i < 7; i++)
		json_object_object_add(stats, stat_names[i], json_object_new_int64(
			db_ok ? db_res_int(&res, 0, i, 0) : 0));
	if (db_ok)
		db_res_free(&res);

	conf = json_object_new_object();
	json_object_object_add(conf, "ssl_verify", json_object_new_boolean(c->ssl_verify));
	json_object_object_add(conf, "request_timeout", json_object_new_int(c->request_timeout));

	json_object_object_add(o, "status", json_object_new_string(
		!db_ok || bk_none ? "unhealthy" : degraded ? "degraded" : "healthy"));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "checks", checks);
	json_object_object_add(o, "stats", stats);
	json_object_object_add(o, "config", conf);
	*http_status = db_ok ? 200 : 503;
	if (!db_ok)
		log_error("status: database unreachable: %s", db_error(a->db));
	return o;
}
