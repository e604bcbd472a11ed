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

struct json_object *status_build(struct app *a, int *http_status)
{
	static const char q[] =
		"SELECT (SELECT COUNT(*) FROM users WHERE enabled = 1),"
		" (SELECT COUNT(*) FROM users),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'waiting'),"
		" (SELECT COUNT(*) FROM queue WHERE status = 'processing'),"
		" (SELECT COALESCE(SUM(requests), 0) FROM daily_usage WHERE day = ?)"
		" + relay_inflight(0, ?),"   /* in flight count too (sql/014) */
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
	int db_ok, degraded = 0;

	db_today(day);
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	db_ok = DBX(a->db, q, &res, DBS(day), DBS(day), DBS(day), DBS(day)) == RE_OK;

	checks = json_object_new_object();
	json_object_object_add(checks, "database", db_ok ?
		status_check("connected", "Database connection OK") :
		status_check("error", "Database connection failed"));
	json_object_object_add(checks, "api_key", c->upstream_api_key[0] ?
		status_check("configured", "API key is configured") :
		status_check("missing", "API key is not configured"));
	degraded |= !c->upstream_api_key[0];

	urls = json_object_new_object();
	json_object_object_add(urls, "status", json_object_new_string(
		c->openai_url[0] || c->anthropic_url[0] ? "configured" : "missing"));
	degraded |= !c->openai_url[0] && !c->anthropic_url[0];
	{
		struct json_object *m = json_object_new_object();
		status_url_label(c->openai_url, label, sizeof(label));
		json_object_object_add(m, "openai", json_object_new_string(label));
		status_url_label(c->anthropic_url, label, sizeof(label));
		json_object_object_add(m, "anthropic", json_object_new_string(label));
		json_object_object_add(urls, "message", m);
	}
	json_object_object_add(checks, "api_urls", urls);

	disk = json_object_new_object();
	if (statvfs(c->disk_path, &sv) == 0 && sv.f_blocks > 0) {
		double used = 100.0 * (double)(sv.f_blocks - sv.f_bfree) /
			(double)sv.f_blocks;
		used = (double)(long long)(used * 10.0 + 0.5) / 10.0;
		json_object_object_add(disk, "status", json_object_new_string(
			used >= 95.0 ? "critical" : used >= 90.0 ? "warning" : "ok"));
		json_object_object_add(disk, "usage_percent", json_object_new_double(used));
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
		!db_ok ? "unhealthy" : degraded ? "degraded" : "healthy"));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	json_object_object_add(o, "checks", checks);
	json_object_object_add(o, "stats", stats);
	json_object_object_add(o, "config", conf);
	*http_status = db_ok ? 200 : 503;
	if (!db_ok)
		log_error("status: database unreachable: %s", db_error(a->db));
	return o;
}
