/* app.h - per-process state shared by the binaries: configuration, the
 * database handle and the upstream handle, created once before the accept
 * loop and reused by every request. */
#ifndef RELAY_APP_H
#define RELAY_APP_H

#include "backend.h"
#include "buf.h"
#include "cfg.h"
#include "mfront.h"
#include "web.h"

struct db;
struct up;

struct app {
	const char *prog;
	struct cfg cfg;
	int cfg_ok;
	char cfg_err[512];
	struct db *db;      /* NULL when the config is bad */
	struct up *up;      /* NULL when the config is bad */
	struct backends bk; /* the pool of upstream accounts (backend.h) */
	struct meter_front mf; /* where finished requests' rows go
				  (mfront.h) */
};

/* The whole main() of a web binary: init, serve until told to stop, free. */
int app_web_main(const char *prog, web_handler h);

/* Loads the config and creates the handles. A bad config is remembered
 * (not fatal) so web binaries can answer it as a 500 JSON error. */
void app_init(struct app *a, const char *prog);
void app_free(struct app *a);

/* bin/meterd's socket for this process's direct requests (made at the
 * first call), or NULL: no meter_socket, meter_async off, or plain CGI
 * (one request per process: nothing to hand over after the answer). */
struct meterc *app_meterc(struct app *a);

/* For handlers: 1 if the app can serve; else answers 500 naming the bad
 * config key and returns 0. */
int app_ready(struct app *a, struct web_req *r);

/* Reads the request body into *b (max_body_bytes cap). Returns 0, or the
 * HTTP status to answer (400 empty, 413 too large) with *why set. */
int app_read_body(struct app *a, struct web_req *r, struct buf *b,
		  const char **why);


#endif
