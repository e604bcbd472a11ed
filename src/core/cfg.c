/* cfg.c - configuration: defaults, INI file, RELAY_* environment overrides.
 *
 * One static table (cfg_opts[]) describes every setting: its name, type,
 * where it lives in struct cfg, its bounds and its default. Defaults, file
 * parsing and environment overrides all walk that table, so adding a setting
 * is one line here plus the field in cfg.h.
 *
 * Messages are one line and name the key and where the value came from
 * ("relay.conf:12: ..." or "environment RELAY_X: ..."); values are quoted
 * only for numbers, booleans and the timezone, never for strings that may be
 * secrets (passwords, API keys, URLs with credentials). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include <curl/curl.h>
#include "acl.h"
#include "cfg.h"

#define CFG_MAX_FILE (1024u * 1024u)   /* a config file larger than this is refused */
#define CFG_VAL_MAX 4096               /* longest decoded value we look at */
#define CFG_ZONEINFO "/usr/share/zoneinfo/"

enum cfg_type { CT_STR, CT_INT, CT_BOOL, CT_INT64 };

/* Extra check for a string value; returns NULL if fine, else a static
 * message (no value in it) explaining what is wrong. */
typedef const char *(*cfg_check_fn)(const char *v);

struct cfg_opt {
	const char *name;
	enum cfg_type type;
	size_t off;            /* offsetof(struct cfg, field) */
	size_t size;           /* sizeof the field (strings: buffer size) */
	long long min, max;    /* numbers: value range; strings: length range */
	long long ndef;        /* default for numbers and booleans */
	const char *sdef;      /* default for strings */
	cfg_check_fn check;    /* strings only, may be NULL */
	const char *doc;       /* what it means, for the generated docs */
};

static const char *check_url(const char *v);
static const char *check_lock_prefix(const char *v);
static const char *check_timezone(const char *v);
static const char *check_acl(const char *v);
static const char *check_ryn(const char *v);

#define FSIZE(f) sizeof(((struct cfg *)0)->f)
/* Strings may be empty and as long as their buffer allows. The last
 * argument is the setting's meaning, as docs/ops/configuration.md and
 * relay.conf.example show it (both generated from this table by
 * tools/cfgdoc.c, `make docs`). */
#define S(f, def, chk, doc) { #f, CT_STR, offsetof(struct cfg, f), FSIZE(f), \
			 0, (long long)FSIZE(f) - 1, 0, def, chk, doc }
#define S_RANGE(f, lo, hi, def, chk, doc) { #f, CT_STR, offsetof(struct cfg, f), \
			 FSIZE(f), lo, hi, 0, def, chk, doc }
#define I(f, lo, hi, def, doc) { #f, CT_INT, offsetof(struct cfg, f), FSIZE(f), \
			    lo, hi, def, NULL, NULL, doc }
#define I64(f, lo, hi, def, doc) { #f, CT_INT64, offsetof(struct cfg, f), FSIZE(f), \
			      lo, hi, def, NULL, NULL, doc }
#define B(f, def, doc) { #f, CT_BOOL, offsetof(struct cfg, f), FSIZE(f), \
		    0, 1, def, NULL, NULL, doc }

static const struct cfg_opt cfg_opts[] = {
	S(db_host, "localhost", NULL,
	  "MariaDB server; with db_socket set the socket is used instead of TCP."),
	I(db_port, 1, 65535, 3306, "MariaDB's TCP port."),
	S(db_socket, "", NULL,
	  "Unix socket of MariaDB, e.g. /run/mysqld/mysqld.sock; wins over "
	  "db_host/db_port (\"\" = use host and port)."),
	S(db_user, "llm_relay", NULL, "MariaDB user."),
	S(db_password, "", NULL, "MariaDB password (数据库密码)."),
	S(db_name, "llm_relay", NULL, "MariaDB database."),
	/* Above every statement that blocks on purpose (GET_LOCK waits,
	 * the dispatcher's waits of up to ~15 s). */
	I(db_read_timeout, 1, 86400, 60,
	  "Seconds a read on the database connection may block: a process "
	  "that loses the server (network partition) gives up after this "
	  "instead of holding its upstream slot. Keep it above every "
	  "statement that blocks on purpose (GET_LOCK waits, the "
	  "dispatcher's waits of up to ~15 s)."),
	I(db_write_timeout, 1, 86400, 60,
	  "Seconds a write on the database connection may block (as "
	  "db_read_timeout)."),
	S(openai_url, "", check_url,
	  "Full OpenAI-compatible endpoint URL (http:// or https://, e.g. "
	  "https://api.openai.com/v1/chat/completions); \"\" = not offered."),
	S(anthropic_url, "", check_url,
	  "Full Anthropic-compatible endpoint URL (http:// or https://, e.g. "
	  "https://api.anthropic.com/v1/messages); \"\" = not offered."),
	S(upstream_api_key, "", NULL,
	  "The shared upstream key (上游 API 密钥) of the default backend: "
	  "sent as \"Authorization: Bearer\" (OpenAI) or \"x-api-key\" "
	  "(Anthropic). The client's key never goes upstream."),
	B(ssl_verify, 1, "Verify the upstream's TLS certificate."),
	I(request_timeout, 1, 86400, 120,
	  "Seconds: the whole of a non-stream request towards the upstream; "
	  "for streams, the longest silence (before the first byte or "
	  "between two)."),
	I(connect_timeout, 1, 600, 10,
	  "Seconds to connect to the upstream (TCP and TLS)."),
	I(upstream_slots, 1, 1000, 1,
	  "Concurrent requests the default backend's upstream account allows."),
	I(queue_max, 0, 1000000, 100,
	  "Requests that may wait in the queue (polled and inline) before a "
	  "503; 0 = never queue."),
	I(user_max_concurrent, -1, 1000000, 0,
	  "The concurrency cap of a user whose own max_concurrent is 0: 0 "
	  "none, -1 max(1, upstream_slots / 2), N that many. Off by default: "
	  "it answers a lone member's burst 429 with slots free and takes "
	  "such users off the fast admission."),
	I64(max_body_bytes, 1024, 1073741824LL, 10485760LL,
	  "Largest request body accepted, in bytes (default 10 MiB); keep "
	  "MariaDB's max_allowed_packet above it for queued bodies."),
	S(timezone, "", check_timezone,
	  "Zone of the daily limits' reset and of timestamps, e.g. "
	  "Asia/Shanghai or CST-8; \"\" = the system's zone."),
	I(result_retention_hours, 0, 87600, 24,
	  "Hours a finished queued request's result is kept."),
	I(queue_wait_max, 1, 86400, 300,
	  "Seconds a request waits for a busy upstream on its own connection "
	  "(the /v1 routes, call.php with X-Relay-Wait) before a retryable "
	  "503/529. The web servers' timeouts must exceed queue_wait_max + "
	  "request_timeout."),
	/* 48 leaves room in MariaDB's 64-character GET_LOCK names for the
	 * slot suffix. */
	S_RANGE(lock_prefix, 1, 48, "llm_relay", check_lock_prefix,
		"Prefix of the MariaDB GET_LOCK names (slots, items, "
		"limits), 1..48 of [A-Za-z0-9_.-]; give each relay sharing "
		"one database server its own. With table backends keep it "
		"at most ~40 characters (lock names end at 64)."),
	/* statvfs("") fails, so an empty disk_path is refused up front. */
	S_RANGE(disk_path, 1, (long long)FSIZE(disk_path) - 1, "/", NULL,
		"Folder whose disk usage /api/status.php reports."),
	/* SDK routes (issue 11) */
	S(openai_base_url, "", check_url,
	  "Base URL of the OpenAI SDK routes (/v1/...); \"\" = openai_url "
	  "without its /chat/completions."),
	S(anthropic_base_url, "", check_url,
	  "Base URL of the Anthropic SDK routes; \"\" = anthropic_url "
	  "without its /v1/messages."),
	S(models, "", NULL,
	  "Models GET /v1/models lists, comma-separated; \"\" = the "
	  "upstream's own list."),
	I(count_tokens_forward, 0, 1000, 0,
	  "/v1/messages/count_tokens is answered by the local estimator; N > 0 "
	  "sends up to N per user and second to the upstream (a shared "
	  "account's rate limit is everyone's), the rest estimated."),
	/* the console (issue 15) */
	B(registration_enabled, 0,
	  "The web console's self-registration: new accounts wait for an "
	  "admin's approval."),
	I(console_session_hours, 1, 8760, 12,
	  "Hours a console login lasts."),
	/* hardening (issue 12): metering that cannot be escaped, and slots
	 * that a slow client or an endless upstream cannot keep */
	B(stream_usage, 1,
	  "Ask OpenAI streams for their usage: "
	  "\"stream_options\":{\"include_usage\":true} is spliced into a "
	  "stream request that lacks it (nothing else of the body changes), "
	  "and the usage-only chunk that adds is dropped before the client "
	  "sees it. Without it such a stream reports no usage and is "
	  "metered as 0."),
	I(stream_max_seconds, 1, 604800, 1800,
	  "Longest exchange in seconds, streams included: an upstream that "
	  "sends \": ping\" forever does not hold a slot forever."),
	I(client_write_timeout, 1, 86400, 60,
	  "Seconds one write to the web server may block (SO_SNDTIMEO on "
	  "the FastCGI socket): a client that stops reading loses its slot."),
	I(drain_max_seconds, 0, 3600, 30,
	  "After a client leaves mid-answer the upstream is read on, not "
	  "forwarded, for up to this many seconds, so the usage it reports "
	  "at the end is metered; 0 = stop at once (and meter only what was "
	  "seen)."),
	I64(drain_max_bytes, 0, 1073741824LL, 8388608LL,
	  "The same read-on's limit in bytes; 0 = stop at once."),
	/* several upstream accounts (issue 13) */
	S(master_key_file, "", NULL,
	  "File of 64 hex characters (32 random bytes), mode 0600, that "
	  "seals backend keys (AES-256-GCM). A configured file that is "
	  "missing, unreadable or readable by group/others stops every "
	  "binary with a configuration error; \"\" = no sealed keys (the "
	  "legacy upstream_api_key still works)."),
	I(backend_max_tries, 1, 10, 3,
	  "Tries of one request across backends (failover on a connect "
	  "error, a timeout before the first byte, or a 429/5xx before "
	  "anything reached the client)."),
	I(backend_fail_threshold, 1, 1000, 3,
	  "Failures in a row before a backend cools down."),
	I(backend_cooldown, 1, 86400, 10,
	  "A backend's first cool-down in seconds (doubling with every "
	  "further failure)."),
	I(backend_cooldown_max, 1, 604800, 300,
	  "A backend's longest cool-down in seconds."),
	/* translation (issue 14) */
	B(translate, 1,
	  "The default backend (openai_url / anthropic_url) also takes "
	  "clients of the other format, translated (Anthropic <-> OpenAI), "
	  "when no backend serves their model in their own format: e.g. "
	  "/v1/messages with only openai_url."),
	B(translate_reasoning, 0,
	  "When translating to an OpenAI-format upstream, send Anthropic "
	  "thinking / output_config.effort as reasoning_effort (only for "
	  "upstreams that accept it; otherwise it is dropped with a logged "
	  "note)."),
	S(responses, "auto", check_ryn,
	  "Whether the default backend's OpenAI endpoint serves POST "
	  "/responses itself: yes (pass /v1/responses through), no (a "
	  "chat-only provider: translate /v1/responses to /chat/completions), "
	  "auto (pass through; issue 26)."),
	/* operations (issue 16): GET /metrics' access, log retention */
	S(metrics_allow, "127.0.0.1, ::1", check_acl,
	  "Client addresses that may GET /metrics (Prometheus text format): "
	  "IPv4/IPv6 addresses or CIDRs separated by commas; \"\" = none."),
	S(metrics_token, "", NULL,
	  "A request with \"Authorization: Bearer <metrics_token>\" may GET "
	  "/metrics from anywhere; a wrong token is refused even from an "
	  "allowed address; \"\" = no token."),
	I(log_retention_days, 0, 36500, 0,
	  "Days request_log rows are kept; 0 = forever. Older rows are "
	  "deleted by the queue worker once a minute in batches of 1,000 "
	  "rows (at most 2 s per round), or at once with `relayctl log "
	  "purge`. daily_usage (limits, status.php, relayctl usage, the "
	  "console's charts) is not affected."),
	B(log_archive, 0,
	  "Copy purged rows to request_log_archive (same columns) before "
	  "deleting them."),
	B(meter_async, 1,
	  "Under FastCGI, a direct request is metered by the process's "
	  "metering thread (its own MariaDB connection) after the answer, "
	  "so the next request does not wait for it; false meters inline "
	  "and keeps one connection per process."),
	S(meter_socket, "/run/llm-relay/meterd.sock", NULL,
	  "The unix socket of bin/meterd, one process per host that writes "
	  "the finished requests of all web processes together (the shipped "
	  "cron file starts it); \"\" = each web process meters on its own "
	  "(meter_async), as it also does whenever the socket does not answer: "
	  "that works, on the slower path, and status.php (checks.metering) "
	  "and /metrics (llm_relay_meterd_up) say so."),
	I(meter_batch_ms, 0, 1000, 20,
	  "How long meterd lets a finished request wait for others to share "
	  "its commit, in ms; 0 = write whatever has come in at once. It "
	  "keeps counting against limits while it waits."),
	S(meter_peer_user, "www-data", NULL,
	  "The web server's user: besides root and meterd's own user, the "
	  "only user whose processes may send records to meterd."),
	/* relayctl doctor (issue 31) */
	S(public_url, "", check_url,
	  "The relay's public base URL (e.g. https://relay.example.com): "
	  "relayctl doctor asks its /api/status.php through the web server; "
	  "\"\" = that check is skipped."),
	S(web_conf, "", NULL,
	  "The web server's config file relayctl doctor reads for the "
	  "FastCGI pool size; \"\" = the usual apache2 and lighttpd paths."),
	S(cron_file, "/etc/cron.d/llm-relay", NULL,
	  "The cron file relayctl doctor expects the worker and meterd lines "
	  "in (or their systemd units)."),
};

#define CFG_NOPTS (sizeof(cfg_opts) / sizeof(cfg_opts[0]))

/* Describes setting i of the table for the generated documentation
 * (tools/cfgdoc.c): the default as a config file would spell it. */
int cfg_info(size_t i, struct cfg_info *out)
{
	const struct cfg_opt *o;

	if (i >= CFG_NOPTS)
		return -1;
	o = &cfg_opts[i];
	out->name = o->name;
	out->doc = o->doc;
	out->min = o->min;
	out->max = o->max;
	switch (o->type) {
	case CT_STR:
		out->kind = "string";
		snprintf(out->def, sizeof(out->def), "%s", o->sdef);
		break;
	case CT_BOOL:
		out->kind = "boolean";
		snprintf(out->def, sizeof(out->def), "%s",
			 o->ndef ? "true" : "false");
		break;
	case CT_INT:
	case CT_INT64:
		out->kind = "integer";
		snprintf(out->def, sizeof(out->def), "%lld", o->ndef);
		break;
	}
	return 0;
}

/* Writes a printf-style message into err (may be NULL/0). A message that
 * does not fit is cut: an error text is still useful truncated. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

/* Copies up to n bytes of s into out (size outlen >= 8) for quoting in an
 * error message: control bytes become '?' so the message stays one line,
 * and a long value is cut (on a UTF-8 boundary) and marked with "...". */
static void show(char *out, size_t outlen, const char *s, size_t n)
{
	size_t i, o = 0, lim = outlen - 4;   /* room for "..." and NUL */

	for (i = 0; i < n && o < lim; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (i < n) {
		/* do not leave half a UTF-8 sequence before the "..." */
		while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
			o--;
		if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Finds the table entry whose name is exactly the n bytes at k; NULL if
 * none. */
static const struct cfg_opt *find_opt(const char *k, size_t n)
{
	size_t i;

	for (i = 0; i < CFG_NOPTS; i++)
		if (strlen(cfg_opts[i].name) == n &&
		    memcmp(cfg_opts[i].name, k, n) == 0)
			return &cfg_opts[i];
	return NULL;
}

/* URLs are parsed by libcurl's own URL parser (curl_url), the one that
 * will use them, so what passes here is what the transfer accepts. Only
 * parsing happens here (no transfer: that stays in up.c). The scheme must
 * be http or https and a host must follow it. */
static const char *check_url(const char *v)
{
	static char why[160];
	CURLU *u;
	CURLUcode uc;
	char *host = NULL;
	size_t n;

	if (!v[0])
		return NULL;
	if (strncasecmp(v, "http://", 7) == 0)
		n = 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		n = 8;
	else
		return "must be empty or start with http:// or https://";
	if (!v[n])
		return "has no host after the scheme";
	for (; v[n]; n++)
		if ((unsigned char)v[n] <= 0x20 || v[n] == 0x7f)
			return "must not contain spaces or control characters";
	u = curl_url();
	if (!u)
		return "could not be checked (out of memory)";
	uc = curl_url_set(u, CURLUPART_URL, v, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (uc == CURLUE_OK && (!host || !host[0]))
		uc = CURLUE_NO_HOST;
	curl_free(host);
	curl_url_cleanup(u);
	if (uc == CURLUE_OK)
		return NULL;
	if (uc == CURLUE_NO_HOST)
		return "has no host after the scheme";
	snprintf(why, sizeof(why), "is not a valid URL (%s)", curl_url_strerror(uc));
	return why;
}

/* The prefix goes into MariaDB lock names; keep it to a safe alphabet. */
static const char *check_ryn(const char *v)
{
	return strcmp(v, "auto") && strcmp(v, "yes") && strcmp(v, "no") ?
		"takes auto, yes or no" : NULL;
}

static const char *check_acl(const char *v)
{
	return acl_check(v, NULL) ? "takes IPv4/IPv6 addresses or address/prefix"
				    " entries separated by commas" : NULL;
}

static const char *check_lock_prefix(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '_' || *v == '.' ||
		      *v == '-'))
			return "only the characters A-Z a-z 0-9 _ . - are allowed";
	return NULL;
}

/* Reads 1..maxd decimal digits at *pp into *out; 0 on success. */
static int tz_num(const char **pp, int maxd, int *out)
{
	const char *p = *pp;
	int n = 0, d = 0;

	while (*p >= '0' && *p <= '9' && d < maxd) {
		n = n * 10 + (*p - '0');
		p++;
		d++;
	}
	if (!d || (*p >= '0' && *p <= '9'))
		return -1;
	*pp = p;
	*out = n;
	return 0;
}

/* Parses a POSIX TZ zone abbreviation: 3+ letters, or <...> with 3+ of
 * [A-Za-z0-9+-]. Advances *pp; 0 on success. */
static int tz_name(const char **pp)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '<') {
		for (p++; *p && *p != '>'; p++, n++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'))
				return -1;
		if (*p != '>' || n < 3)
			return -1;
		p++;
	} else {
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
			p++;
			n++;
		}
		if (n < 3)
			return -1;
	}
	*pp = p;
	return 0;
}

/* Parses [+-]hh[:mm[:ss]] with hours up to maxh. Advances *pp. */
static int tz_offset(const char **pp, int maxh)
{
	const char *p = *pp;
	int h, m, s;

	if (*p == '+' || *p == '-')
		p++;
	if (tz_num(&p, 3, &h) || h > maxh)
		return -1;
	if (*p == ':') {
		p++;
		if (tz_num(&p, 2, &m) || m > 59)
			return -1;
		if (*p == ':') {
			p++;
			if (tz_num(&p, 2, &s) || s > 59)
				return -1;
		}
	}
	*pp = p;
	return 0;
}

/* Parses one DST transition rule: Jn, n or Mm.w.d, optionally /time. */
static int tz_rule(const char **pp)
{
	const char *p = *pp;
	int a, b, d;

	if (*p == 'J') {
		p++;
		if (tz_num(&p, 3, &a) || a < 1 || a > 365)
			return -1;
	} else if (*p == 'M') {
		p++;
		if (tz_num(&p, 2, &a) || a < 1 || a > 12 || *p++ != '.' ||
		    tz_num(&p, 1, &b) || b < 1 || b > 5 || *p++ != '.' ||
		    tz_num(&p, 1, &d) || d > 6)
			return -1;
	} else if (tz_num(&p, 3, &a) || a > 365) {
		return -1;
	}
	if (*p == '/') {
		p++;
		if (tz_offset(&p, 167))   /* RFC 8536 extension, as glibc */
			return -1;
	}
	*pp = p;
	return 0;
}

/* 1 if v is a POSIX TZ string glibc understands without a zone file
 * ("UTC0", "CST-8", "EST5EDT,M3.2.0,M11.1.0", "<+08>-8"), or a bare
 * UTC/GMT/UCT, which glibc treats as UTC even with no tzdata installed.
 * A bare other name ("EST") is refused: glibc would silently use UTC. */
static int tz_is_posix(const char *v)
{
	const char *p = v;

	if (!strcmp(v, "UTC") || !strcmp(v, "GMT") || !strcmp(v, "UCT"))
		return 1;
	if (tz_name(&p) || tz_offset(&p, 24))
		return 0;
	if (!*p)
		return 1;
	if (tz_name(&p))
		return 0;
	if (*p && *p != ',' && tz_offset(&p, 24))
		return 0;
	if (*p == ',') {
		p++;
		if (tz_rule(&p) || *p++ != ',' || tz_rule(&p))
			return 0;
	}
	return *p == '\0';
}

/* A zone is accepted if it names a readable file under /usr/share/zoneinfo
 * (no absolute paths, no "..") or is a POSIX TZ string. The check matters
 * because glibc falls back to UTC without a word for an unknown zone, which
 * would move everyone's daily reset. */
static const char *check_timezone(const char *v)
{
	char path[sizeof(CFG_ZONEINFO) + FSIZE(timezone)];
	const char *p;
	struct stat st;
	int ok_chars = v[0] != '/';

	if (!v[0])
		return NULL;
	for (p = v; *p && ok_chars; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '+' ||
		      *p == '-' || *p == '/' || *p == '.'))
			ok_chars = 0;
	if (ok_chars && !strstr(v, "..")) {
		int n = snprintf(path, sizeof(path), "%s%s", CFG_ZONEINFO, v);

		/* open() rather than access(): readable by us, not just by
		 * the real uid, and it follows the symlinks tzdata uses */
		if (n > 0 && (size_t)n < sizeof(path)) {
			int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			int ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);

			if (fd >= 0)
				close(fd);
			if (ok)
				return NULL;
		}
	}
	if (tz_is_posix(v))
		return NULL;
	return "unknown zone";
}

/* Parses a base-10 integer that must fill the whole string: no leading
 * space, no trailing junk. Returns 0, -1 if not a number, -2 on overflow. */
static int parse_ll(const char *v, long long *out)
{
	char *end;
	long long n;

	if (!((*v >= '0' && *v <= '9') ||
	      ((*v == '-' || *v == '+') && v[1] >= '0' && v[1] <= '9')))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end)
		return -1;
	if (errno == ERANGE)
		return -2;
	*out = n;
	return 0;
}

/* Parses a boolean word (case-insensitive); returns 0/1, or -1. */
static int parse_bool(const char *v)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

/* Stores the value v (len bytes, NUL-terminated, no inner NUL) in the field
 * of *c that o describes, after checking it. `where` prefixes messages.
 * Returns 0 or -1 with err set; the field is unchanged on error. */
static int set_opt(struct cfg *c, const struct cfg_opt *o, const char *v,
		   size_t len, const char *where, char *err, size_t errlen)
{
	char *field = (char *)c + o->off;
	char shown[72];
	long long n;
	int rc;

	switch (o->type) {
	case CT_STR: {
		const char *why;

		if ((long long)len > o->max) {
			seterr(err, errlen, "%s: %s: value too long (max %lld)",
			       where, o->name, o->max);
			return -1;
		}
		if ((long long)len < o->min) {
			if (o->min == 1)
				seterr(err, errlen, "%s: %s: must not be empty",
				       where, o->name);
			else
				seterr(err, errlen, "%s: %s: value too short (min %lld)",
				       where, o->name, o->min);
			return -1;
		}
		why = o->check ? o->check(v) : NULL;
		if (why) {
			/* only the timezone is echoed: other strings may be secret */
			if (o->check == check_timezone) {
				show(shown, sizeof(shown), v, len);
				seterr(err, errlen, "%s: %s: %s '%s'", where,
				       o->name, why, shown);
			} else {
				seterr(err, errlen, "%s: %s: %s", where, o->name, why);
			}
			return -1;
		}
		memcpy(field, v, len);
		field[len] = '\0';
		return 0;
	}
	case CT_BOOL:
		rc = parse_bool(v);
		if (rc < 0) {
			show(shown, sizeof(shown), v, len);
			seterr(err, errlen, "%s: %s: '%s' is not a boolean "
			       "(true/false, yes/no, on/off, 1/0)",
			       where, o->name, shown);
			return -1;
		}
		*(int *)(void *)field = rc;
		return 0;
	case CT_INT:
	case CT_INT64:
		rc = parse_ll(v, &n);
		if (rc == -1) {
			show(shown, sizeof(shown), v, len);
			seterr(err, errlen, "%s: %s: '%s' is not a number",
			       where, o->name, shown);
			return -1;
		}
		if (rc == -2 || n < o->min || n > o->max) {
			/* an overflowing number is shown as written */
			show(shown, sizeof(shown), v, len);
			seterr(err, errlen, "%s: %s: %s out of range %lld..%lld",
			       where, o->name, shown, o->min, o->max);
			return -1;
		}
		if (o->type == CT_INT)
			*(int *)(void *)field = (int)n;
		else
			*(long long *)(void *)field = n;
		return 0;
	}
	return -1;
}

/* Sets every field of *c (caller's storage) to its table default; path
 * becomes "". */
void cfg_defaults(struct cfg *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < CFG_NOPTS; i++) {
		const struct cfg_opt *o = &cfg_opts[i];
		char *field = (char *)c + o->off;

		/* a table line whose type does not match its field's size
		 * would write past it: stop at the first use (the tests) */
		if (o->type != CT_STR &&
		    o->size != (o->type == CT_INT64 ? sizeof(long long) : sizeof(int)))
			abort();
		switch (o->type) {
		case CT_STR:
			/* defaults are literals far shorter than their fields */
			memcpy(field, o->sdef, strlen(o->sdef) + 1);
			break;
		case CT_INT:
		case CT_BOOL:
			*(int *)(void *)field = (int)o->ndef;
			break;
		case CT_INT64:
			*(long long *)(void *)field = o->ndef;
			break;
		}
	}
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Decodes the value text [s, e) into out (size outlen): a value starting
 * with '"' must end with the matching quote (only blanks after it) and may
 * use \" and \\; any other backslash is kept as written, so a path or
 * password with a backslash reads as it looks. Unquoted values are taken
 * as they are. Returns the decoded length, -1 if it does not fit, -2 on a
 * missing closing quote, -3 on text after the closing quote. */
static long decode_value(const char *s, const char *e, char *out, size_t outlen)
{
	size_t o = 0;

	if (s == e || *s != '"') {
		if ((size_t)(e - s) >= outlen)
			return -1;
		memcpy(out, s, (size_t)(e - s));
		out[e - s] = '\0';
		return (long)(e - s);
	}
	for (s++; s < e && *s != '"'; s++) {
		if (*s == '\\' && e - s >= 2 && (s[1] == '"' || s[1] == '\\'))
			s++;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *s;
	}
	if (s == e)
		return -2;
	for (s++; s < e; s++)
		if (!is_blank(*s))
			return -3;
	out[o] = '\0';
	return (long)o;
}

/* Handles one line [s, e) (no '\n') of file `name`. Returns 0 or -1. */
static int parse_line(struct cfg *c, const char *name, size_t lineno,
		      const char *s, const char *e, char *err, size_t errlen)
{
	char where[600], shown[72], val[CFG_VAL_MAX];
	const struct cfg_opt *o;
	const char *eq, *ke;
	long n;

	/* a cut file name in the prefix still points at the right line */
	snprintf(where, sizeof(where), "%s:%zu", name, lineno);
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	if (s == e || *s == '#' || *s == ';')
		return 0;
	if (memchr(s, '\0', (size_t)(e - s))) {
		seterr(err, errlen, "%s: NUL byte in line", where);
		return -1;
	}
	if (*s == '[' && e[-1] == ']')
		return 0;               /* sections are accepted and ignored */
	eq = memchr(s, '=', (size_t)(e - s));
	ke = eq;
	if (eq)
		while (ke > s && is_blank(ke[-1]))
			ke--;
	if (!eq || ke == s) {
		seterr(err, errlen, "%s: expected key = value", where);
		return -1;
	}
	o = find_opt(s, (size_t)(ke - s));
	if (!o) {
		show(shown, sizeof(shown), s, (size_t)(ke - s));
		seterr(err, errlen, "%s: unknown key '%s'", where, shown);
		return -1;
	}
	for (s = eq + 1; s < e && is_blank(*s); s++)
		;
	n = decode_value(s, e, val, sizeof(val));
	if (n == -1) {
		seterr(err, errlen, "%s: %s: value too long (max %lld)", where,
		       o->name, o->type == CT_STR ? o->max : (long long)sizeof(val) - 1);
		return -1;
	}
	if (n == -2) {
		seterr(err, errlen, "%s: %s: missing closing quote", where, o->name);
		return -1;
	}
	if (n == -3) {
		seterr(err, errlen, "%s: %s: unexpected text after closing quote",
		       where, o->name);
		return -1;
	}
	return set_opt(c, o, val, (size_t)n, where, err, errlen);
}

/* Applies the INI text (len bytes, need not be NUL-terminated; borrowed)
 * to *c line by line, stopping at the first bad line. A UTF-8 BOM and CRLF
 * line ends are accepted. Returns 0 or -1 with err set. */
int cfg_parse_text(struct cfg *c, const char *name, const char *text,
		   size_t len, char *err, size_t errlen)
{
	const char *p, *end, *nl;
	size_t lineno = 0;

	if (!text || !len)
		return 0;
	p = text;
	end = text + len;
	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		lineno++;
		if (parse_line(c, name, lineno, p, nl ? nl : end, err, errlen))
			return -1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Reads the whole file into b (capped at CFG_MAX_FILE). A missing file
 * sets *missing and returns 0 when must_exist is 0. Returns 0 or -1. */
static int read_file(const char *path, int must_exist, struct buf *b,
		     int *missing, char *err, size_t errlen)
{
	char chunk[8192];
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	*missing = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist) {
			*missing = 1;
			return 0;
		}
		seterr(err, errlen, "cannot read config %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		seterr(err, errlen, "cannot read config %s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "cannot read config %s: %s", path, strerror(EISDIR));
		goto out;
	}
	for (;;) {
		enum relay_err e;

		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(err, errlen, "cannot read config %s: %s", path,
			       strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		e = buf_append(b, chunk, (size_t)n);
		if (e == RE_ETOOBIG) {
			seterr(err, errlen, "config %s is larger than 1 MiB", path);
			goto out;
		}
		if (e) {
			seterr(err, errlen, "cannot read config %s: %s", path,
			       relay_strerror(e));
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* getenv with the signature cfg_load_from expects. */
static const char *env_getenv(const char *name)
{
	return getenv(name);
}

/* Shared by cfg_load and cfg_load_from: must_exist says whether a missing
 * file is an error. */
static int load(struct cfg *c, const char *path, int must_exist,
		const char *(*env)(const char *name), char *err, size_t errlen)
{
	struct buf b;
	size_t i;
	int missing = 0, rc = -1;

	buf_init(&b, CFG_MAX_FILE);
	cfg_defaults(c);
	if (err && errlen)
		err[0] = '\0';
	if (!env)
		env = env_getenv;
	if (path) {
		size_t pl = strlen(path);

		if (pl >= sizeof(c->path)) {
			seterr(err, errlen, "config path too long (max %zu)",
			       sizeof(c->path) - 1);
			goto out;
		}
		if (read_file(path, must_exist, &b, &missing, err, errlen))
			goto out;
		if (!missing) {
			memcpy(c->path, path, pl + 1);
			if (cfg_parse_text(c, path, b.data, b.len, err, errlen))
				goto out;
		}
	}
	for (i = 0; i < CFG_NOPTS; i++) {
		char ename[64], where[80];
		const char *v;
		size_t k, nl = strlen(cfg_opts[i].name);

		/* names in the table are short; RELAY_ + name always fits */
		memcpy(ename, "RELAY_", 6);
		for (k = 0; k < nl && 6 + k < sizeof(ename) - 1; k++) {
			char ch = cfg_opts[i].name[k];

			ename[6 + k] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
		}
		ename[6 + k] = '\0';
		v = env(ename);
		if (!v)
			continue;
		snprintf(where, sizeof(where), "environment %s", ename);
		if (set_opt(c, &cfg_opts[i], v, strlen(v), where, err, errlen))
			goto out;
	}
	if (c->timezone[0]) {
		if (setenv("TZ", c->timezone, 1) < 0) {
			seterr(err, errlen, "timezone: cannot set TZ: %s",
			       strerror(errno));
			goto out;
		}
		tzset();
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* Defaults, then the file at path (NULL = none; must exist otherwise), then
 * env (NULL = getenv), then TZ. See cfg.h. */
int cfg_load_from(struct cfg *c, const char *path,
		  const char *(*env)(const char *name), char *err, size_t errlen)
{
	return load(c, path, 1, env, err, errlen);
}

/* Defaults, $RELAY_CONFIG or the default file, the process environment,
 * then TZ. See cfg.h. */
int cfg_load(struct cfg *c, char *err, size_t errlen)
{
	const char *path = getenv("RELAY_CONFIG");

	if (path && path[0])
		return load(c, path, 1, NULL, err, errlen);
	/* the default file is optional (environment-only setups), but one
	 * that exists and cannot be read is an error, not a silent skip */
	return load(c, CFG_DEFAULT_PATH, 0, NULL, err, errlen);
}
