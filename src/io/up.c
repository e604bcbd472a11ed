/* up.c - libcurl exchange with the upstream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "cfg.h"
#include "hdrpass.h"
#include "log.h"
#include "sigv4.h"
#include "up.h"

struct up {
	const struct cfg *cfg;
	CURL *h;
};

/* State of one transfer, shared with the curl callbacks. */
struct up_xfer {
	struct up *u;
	const struct up_sink *sink;
	const struct up_req *rq;
	struct up_result *res;
	int stream;
	double t0, last_byte, last_tick;
	int stalled;
	int overtime;                 /* ran past stream_max_seconds */
	const char *stopped;          /* the tick's reason, or NULL */
};

static double up_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct up *up_new(const struct cfg *c)
{
	static int inited;
	struct up *u;

	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return NULL;
		inited = 1;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->cfg = c;
	u->h = curl_easy_init();
	if (!u->h) {
		free(u);
		return NULL;
	}
	return u;
}

void up_free(struct up *u)
{
	if (!u)
		return;
	curl_easy_cleanup(u->h);
	free(u);
}

const struct cfg *up_cfg(const struct up *u)
{
	return u->cfg;
}

const char *up_url(const struct cfg *c, enum fmt_kind fmt)
{
	const char *url = fmt == FMT_ANTHROPIC ? c->anthropic_url : c->openai_url;

	return url[0] ? url : NULL;
}

int up_retry_after(const char *value)
{
	long long v = 0;
	const char *p = value;

	if (!p)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9') {
		/* An HTTP-date (RFC 9110 10.2.3): seconds from now, 0 if past. */
		time_t t = *p ? curl_getdate(p, NULL) : -1;
		long long d;
		if (t == -1)
			return -1;
		d = (long long)t - (long long)time(NULL);
		return d < 0 ? 0 : d > 86400 ? 86400 : (int)d;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v < 86400)
			v = v * 10 + (*p - '0');
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return -1;
	return v > 86400 ? 86400 : (int)v;
}

/* Calls the sink's start() once, with the upstream status and type. */
static int up_start(struct up_xfer *x)
{
	char *ct = NULL;
	long code = 0;

	if (x->res->started)
		return 0;
	x->res->started = 1;
	curl_easy_getinfo(x->u->h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->u->h, CURLINFO_CONTENT_TYPE, &ct);
	x->res->status = code;
	if (code == 429 || code == 503) {
		struct curl_header *ra = NULL;
		if (curl_easy_header(x->u->h, "Retry-After", 0, CURLH_HEADER, -1,
				     &ra) == CURLHE_OK && ra)
			x->res->retry_after = up_retry_after(ra->value);
	}
	snprintf(x->res->content_type, sizeof(x->res->content_type), "%s",
		 ct ? ct : "");
	x->res->ttfb_ms = (up_now() - x->t0) * 1000.0;
	if (x->rq->refuse_busy && (code == 429 || code >= 500)) {
		x->res->refused = 1;
		snprintf(x->res->error, sizeof(x->res->error), "upstream answered HTTP %ld", code);
		return -1;
	}
	return x->sink->start(x->sink->ctx, code, x->res->content_type);
}

static size_t up_on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct up_xfer *x = ud;
	size_t n = size * nmemb;

	x->last_byte = up_now();
	if (up_start(x) || x->sink->data(x->sink->ctx, p, n)) {
		x->res->sink_abort = 1;
		return n ? 0 : 1;  /* any value != n aborts */
	}
	x->res->bytes += n;
	return n;
}

/* Keeps the allow-listed headers of the final answer (a 1xx or any earlier
 * response's headers are forgotten at the next status line). */
static size_t up_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct up_xfer *x = ud;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		x->res->headers_len = 0;
		x->res->headers[0] = '\0';
	} else {
		hdrpass_add(x->res->headers, sizeof(x->res->headers),
			    &x->res->headers_len, p, n);
	}
	return n;
}

/* Enforces "no byte for request_timeout seconds" for streams. */
static int up_on_progress(void *ud, curl_off_t dt, curl_off_t dn,
			  curl_off_t ut, curl_off_t un)
{
	struct up_xfer *x = ud;
	const struct up_req *rq = x->rq;
	double now = up_now();
	(void)dt; (void)dn; (void)ut; (void)un;

	if (rq->tick && now - x->last_tick >= 0.2) {
		x->last_tick = now;
		x->stopped = rq->tick(rq->tick_ctx);
		if (x->stopped)
			return 1;
	}
	if (x->stream &&
	    now - x->last_byte > (double)x->u->cfg->request_timeout) {
		x->stalled = 1;
		return 1;
	}
	/* An upstream that keeps sending ": ping" never stalls: this bound
	 * is what stops it from holding a slot forever. */
	if (now - x->t0 > (double)x->u->cfg->stream_max_seconds) {
		x->overtime = 1;
		return 1;
	}
	return 0;
}

/* Appends "Name: value" to a curl header list; refuses CR/LF so a client
 * value can never inject a header line upstream. */
static int up_header(struct curl_slist **l, const char *name, const char *val)
{
	char line[1200];
	struct curl_slist *n;
	int len;

	if (strpbrk(val, "\r\n"))
		return -1;
	len = snprintf(line, sizeof(line), "%s: %s", name, val);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -1;
	n = curl_slist_append(*l, line);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

/* UP_AUTH_AWS: x-amz-date, x-amz-security-token and the SigV4
 * Authorization of this exact request (URL and body) now. */
static int up_aws_headers(struct curl_slist **l, const struct up_req *rq, const char *url,
			  const char *key)
{
	char cred[1100], host[300], path[2100], date[20], auth[600];
	const char *h, *p, *q, *secret, *tok;
	struct sigv4_in in;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	snprintf(cred, sizeof(cred), "%s", key ? key : "");
	secret = strchr(cred, ':');
	if (!secret || !rq->aws_region || !(h = strstr(url, "://")))
		return -1;
	cred[secret - cred] = '\0';
	secret++;
	tok = strchr(secret, ':');
	if (tok)
		cred[tok++ - cred] = '\0';
	h += 3;
	p = h + strcspn(h, "/?");
	q = strchr(p, '?');
	snprintf(host, sizeof(host), "%.*s", (int)(p - h), h);
	snprintf(path, sizeof(path), "%.*s", (int)(q ? q - p : (long)strlen(p)), p);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	memset(&in, 0, sizeof(in));
	in.method = rq->get ? "GET" : "POST";
	in.host = host;
	in.path = path[0] ? path : "/";
	in.query = q ? q + 1 : "";
	in.amz_date = date;
	in.region = rq->aws_region;
	in.service = rq->aws_service ? rq->aws_service : "bedrock";
	in.akid = cred;
	in.secret = secret;
	in.session_token = tok && *tok ? tok : NULL;
	in.payload = rq->get ? "" : rq->body;
	in.payload_len = rq->get ? 0 : rq->body_len;
	rc = sigv4_sign(&in, auth, sizeof(auth)) || up_header(l, "x-amz-date", date) ||
		(in.session_token && up_header(l, "x-amz-security-token", in.session_token)) ||
		up_header(l, "Authorization", auth);
	memset(cred, 0, sizeof(cred));
	return rc ? -1 : 0;
}

/* The upstream key header: the backend's key and style, or for backend 0
 * the legacy rule (x-api-key for Anthropic, Bearer for OpenAI). */
static int up_key_header(struct curl_slist **l, const struct up_req *rq,
			 const struct cfg *c, const char *url)
{
	const char *key = rq->api_key ? rq->api_key : c->upstream_api_key;
	enum up_auth a = rq->auth;
	char bearer[1100];
	int rc;

	if (a == UP_AUTH_DEFAULT)
		a = rq->fmt == FMT_ANTHROPIC ? UP_AUTH_XKEY : UP_AUTH_BEARER;
	/* no key, no header: a keyless server behind may refuse an empty
	 * "Authorization: Bearer " (issue 28) */
	if (a == UP_AUTH_NONE || !key || !*key)
		return 0;
	if (a == UP_AUTH_XKEY)
		return up_header(l, "x-api-key", key);
	if (a == UP_AUTH_AZURE)
		return up_header(l, "api-key", key);
	if (a == UP_AUTH_AWS)
		return up_aws_headers(l, rq, url, key);
	snprintf(bearer, sizeof(bearer), "Bearer %s", key);
	rc = up_header(l, "Authorization", bearer);
	memset(bearer, 0, sizeof(bearer));
	return rc;
}

enum relay_err up_forward(struct up *u, const struct up_req *rq,
			  const struct up_sink *sink, struct up_result *res)
{
	const struct cfg *c = u->cfg;
	struct curl_slist *hdr = NULL;
	struct up_xfer x;
	const char *url = rq->url ? rq->url : up_url(c, rq->fmt);
	CURLcode cc;
	CURL *h = u->h;

	memset(res, 0, sizeof(*res));
	res->retry_after = -1;
	memset(&x, 0, sizeof(x));
	x.u = u;
	x.sink = sink;
	x.rq = rq;
	x.res = res;
	x.stream = rq->stream;
	if (!url) {
		res->err = RE_ECONFIG;
		snprintf(res->error, sizeof(res->error), "endpoint not configured");
		return RE_ECONFIG;
	}
	if ((!rq->get && up_header(&hdr, "Content-Type", "application/json")) ||
	    up_header(&hdr, "Expect", "") ||
	    up_header(&hdr, "Accept", rq->stream ? "text/event-stream" : "application/json"))
		goto bad_header;
	if (rq->fmt == FMT_ANTHROPIC) {
		const char *ver = rq->anthropic_version && *rq->anthropic_version ?
			rq->anthropic_version : "2023-06-01";
		if (up_header(&hdr, "anthropic-version", ver))
			goto bad_header;
		if (rq->anthropic_beta && *rq->anthropic_beta &&
		    up_header(&hdr, "anthropic-beta", rq->anthropic_beta))
			goto bad_header;
	}
	if (up_key_header(&hdr, rq, c, url))
		goto bad_header;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (rq->get) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)rq->body_len);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "llm-relay/1.0");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout);
	if (!rq->stream)
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->request_timeout);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
	/* Pass through what the upstream sent: no decoding, no redirects. */
	curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, up_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, up_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, up_on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 64L * 1024);

	x.t0 = x.last_byte = x.last_tick = up_now();
	cc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	if (cc == CURLE_OK) {
		if (up_start(&x)) {
			if (res->refused)
				return res->err = RE_EBUSY;
			res->sink_abort = 1;
			return res->err = RE_ECLIENT;
		}
		return RE_OK;
	}
	if (res->refused)
		return res->err = RE_EBUSY;
	if (res->sink_abort)
		return res->err = RE_ECLIENT;
	res->err = RE_EUPSTREAM;
	if (x.stopped)
		snprintf(res->error, sizeof(res->error), "%s", x.stopped);
	else if (x.stalled)
		snprintf(res->error, sizeof(res->error),
			 "upstream sent nothing for %d s", c->request_timeout);
	else if (x.overtime)
		snprintf(res->error, sizeof(res->error),
			 "exchange stopped after stream_max_seconds (%d s)",
			 c->stream_max_seconds);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		snprintf(res->error, sizeof(res->error), "upstream timed out: %s",
			 curl_easy_strerror(cc));
	else
		snprintf(res->error, sizeof(res->error), "%s",
			 curl_easy_strerror(cc));
	return RE_EUPSTREAM;
bad_header:
	curl_slist_free_all(hdr);
	res->err = RE_EINVAL;
	snprintf(res->error, sizeof(res->error), "invalid header value");
	return RE_EINVAL;
}

static size_t up_probe_sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

long up_probe(const char *url, long timeout_s, const char **why)
{
	CURL *h = curl_easy_init();
	CURLcode cc;
	long code = 0;

	*why = "out of memory";
	if (!h)
		return 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, up_probe_sink);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	*why = cc == CURLE_OK ? "" : curl_easy_strerror(cc);
	curl_easy_cleanup(h);
	return code;
}
