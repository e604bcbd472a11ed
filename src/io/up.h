/* up.h - the upstream exchange over libcurl.
 *
 * This is the only module that calls curl_*. One handle per process is
 * reused across requests so the connection to the upstream stays alive.
 * The request body is sent unchanged; the response is handed to a sink as
 * it arrives (nothing is buffered here). */
#ifndef RELAY_UP_H
#define RELAY_UP_H

#include <stddef.h>
#include "err.h"
#include "fmt.h"

struct cfg;
struct up;

/* How the upstream key goes out. */
enum up_auth {
	UP_AUTH_DEFAULT = 0,   /* by format: x-api-key for Anthropic, else Bearer */
	UP_AUTH_BEARER,        /* Authorization: Bearer <key> */
	UP_AUTH_XKEY,          /* x-api-key: <key> */
	UP_AUTH_NONE,          /* no credential header at all (keyless) */
	UP_AUTH_AZURE,         /* api-key: <key> (Azure OpenAI) */
	UP_AUTH_AWS            /* SigV4 (sigv4.h); the key is
				  "ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]" */
};

struct up_req {
	enum fmt_kind fmt;
	const char *body;             /* sent byte for byte */
	size_t body_len;
	int stream;                   /* the client asked for stream: true */
	const char *anthropic_version;/* client's header or NULL (default used) */
	const char *anthropic_beta;   /* client's header or NULL */
	const char *url;              /* NULL = up_url(fmt) (call.php, queue);
					 the SDK routes give the full URL */
	int get;                      /* 1 = GET without a body (GET /models) */
	const char *api_key;          /* NULL = upstream_api_key (backend 0) */
	enum up_auth auth;
	const char *aws_region;       /* UP_AUTH_AWS: region and service */
	const char *aws_service;
	/* 1 = an answer with status 429 or >= 500 is not handed to the sink:
	 * the transfer stops (RE_EBUSY, res->status set) so that the request
	 * can go to another backend (backend.h) */
	int refuse_busy;
	/* Called about every 200 ms during the transfer (may be NULL). A
	 * non-NULL return stops the transfer as an upstream failure with
	 * that reason (e.g. the process lost its upstream slot). */
	const char *(*tick)(void *ctx);
	void *tick_ctx;
};

/* Where the response goes. start() is called once, before the first data
 * (or at the end for an empty body); a non-zero return from either
 * callback aborts the transfer (the client went away). */
struct up_sink {
	int (*start)(void *ctx, long status, const char *content_type);
	int (*data)(void *ctx, const char *p, size_t n);
	void *ctx;
};

struct up_result {
	long status;                  /* upstream HTTP status, 0 if none */
	char content_type[256];
	int started;                  /* sink start() was called */
	int sink_abort;               /* the sink stopped the transfer */
	enum relay_err err;           /* RE_EUPSTREAM on transport failure */
	char error[256];              /* reason, never containing the key */
	unsigned long long bytes;     /* response body bytes received */
	double ttfb_ms;               /* time to the first body byte */
	int refused;                  /* stopped by refuse_busy */
	int retry_after;              /* the answer's Retry-After in seconds,
					 -1 when absent or not a number */
	/* The answer's headers on the hdrpass.h allow-list, as
	 * "name: value\r\n" lines (complete before the sink's start()). */
	char headers[2048];
	size_t headers_len;
};

/* Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3, read by
 * curl_getdate; a past date is 0), capped at one day; -1 for NULL or
 * anything else. */
int up_retry_after(const char *value);

/* Creates the per-process handle (curl_global_init is done here once).
 * Caller owns; up_free() releases. `c` must outlive it. */
struct up *up_new(const struct cfg *c);
void up_free(struct up *u);

/* The configuration the handle was made with (borrowed). */
const struct cfg *up_cfg(const struct up *u);

/* One plain GET of url (relayctl doctor's probes), the body discarded:
 * the HTTP status, or 0 with why (static text) when no answer came. */
long up_probe(const char *url, long timeout_s, const char **why);

/* The configured endpoint URL for a format, or NULL if not configured. */
const char *up_url(const struct cfg *c, enum fmt_kind fmt);

/* Performs one exchange. Returns RE_OK when the upstream answered (whatever
 * its status) and the whole body reached the sink; RE_EUPSTREAM with
 * res->error on a transport failure or timeout (also mid-body); RE_ECLIENT
 * when the sink aborted. Timeouts: connect_timeout to connect; for streams
 * request_timeout without a byte (before the first or between two), for
 * plain responses request_timeout in total. */
enum relay_err up_forward(struct up *u, const struct up_req *rq,
			  const struct up_sink *sink, struct up_result *res);

#endif
