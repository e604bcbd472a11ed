/* Layer io (src/io/): the only users of FCGX_*, mysql_*, curl_*: web
 * request and answer, database, slots, the upstream call, route table,
 * API error bodies. */
/* web.h - the request/response transport: FastCGI (libfcgi) or plain CGI.
 *
 * This is the only module that calls FCGX_*. Handlers get a struct web_req
 * and answer through resp.h; they never see libfcgi, so tests can drive them
 * through CGI mode with nothing but environment variables and pipes. */
#ifndef RELAY_WEB_H
#define RELAY_WEB_H

#include <stddef.h>

struct web_req {
	/* CGI meta-variables of this request; owned by libfcgi or the
	 * environment and valid only until the request ends. */
	const char *method;        /* REQUEST_METHOD, "" if absent */
	const char *query;         /* QUERY_STRING, "" if absent */
	long long content_length;  /* CONTENT_LENGTH, -1 if absent */
	char id[17];               /* request id for the logs */
	int headers_sent;          /* resp_start() was called */
	int client_gone;           /* a write to the client failed */
	int finished;              /* web_finish() was called */
	unsigned long long bytes_out;
	/* private */
	void *fcgx;                /* FCGX_Request *, NULL in CGI mode */
};

/* Handles one request; everything it allocates is freed before it returns. */
typedef void (*web_handler)(struct web_req *r, void *ctx);

/* Runs the accept loop (FastCGI) or serves exactly one request (CGI).
 * Returns the process exit status. SIGPIPE is ignored; SIGTERM lets the
 * current request finish, then the loop ends. */
int web_run(web_handler h, void *ctx);

/* Between requests: while fd(ctx) >= 0, the loop waits for that fd's end
 * (a hang-up; data on it does not wake the process) as well as for the
 * next request, and calls run(ctx) when it comes (bin/meterd gone,
 * meterc.h: a process that gets no further request still learns of it).
 * Call before web_run(). */
void web_set_idle(int (*fd)(void *ctx), void (*run)(void *ctx));

/* Seconds a write to the web server may block before the client counts
 * as gone (SO_SNDTIMEO on the FastCGI socket; 0 = none). A client that
 * stops reading otherwise keeps its upstream slot for as long as the web
 * server waits (lighttpd: 360 s per stall). Call before web_run(). */
void web_set_write_timeout(int seconds);
/* 1 under FastCGI (the process serves request after request), 0 as CGI. */
int web_persistent(void);

/* A CGI meta-variable ("HTTP_X_API_KEY", "CONTENT_TYPE", ...) or NULL. */
const char *web_param(const struct web_req *r, const char *name);
/* A request header by its HTTP name ("X-API-Key"), or NULL. */
const char *web_header(const struct web_req *r, const char *name);

/* Reads up to n body bytes. Returns the count, 0 at the end, -1 on error. */
long web_read(struct web_req *r, char *p, size_t n);
/* Writes n bytes to the client. Returns 0, or -1 once the client is gone
 * (then r->client_gone is set and later writes are dropped). */
int web_write(struct web_req *r, const void *p, size_t n);
/* Pushes buffered output to the web server now (used after every SSE event). */
int web_flush(struct web_req *r);

/* The socket (or pipe) to the web server and the poll() events that mean
 * the client is gone, for waiting on it and on the database at once; -1
 * when there is none. Reads and discards whatever of the request body is
 * left: call it only after the body was read. */
int web_watch_fd(struct web_req *r, short *events);
/* 1 if the client is known or seen (without blocking) to be gone. */
int web_gone_now(struct web_req *r);

/* Ends the response now: the client has everything and the web server
 * can complete it, while the handler goes on with its bookkeeping (the
 * metering round trip then adds nothing to the client's latency). After
 * this the request's parameters and streams are gone: no web_* call may
 * use r again except to read r->id. */
void web_finish(struct web_req *r);

#endif
