/* Layer ops (src/ops/): status, metrics, log retention, the meterd
 * daemon, the queue worker. */
/* status.h - the health document of status.php, also shown on the docs page. */
#ifndef RELAY_STATUS_H
#define RELAY_STATUS_H

struct app;
struct json_object;

/* Builds the status object (caller owns it) and the HTTP status to answer
 * with: 200, or 503 when the database is unreachable. */
struct json_object *status_build(struct app *a, int *http_status);

#endif
