/* worker.h - the queue worker loop (bin/queue_worker). */
#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

struct app;

struct worker_opts {
	int max_seconds;   /* stop claiming new items after this long */
	int once;          /* exit as soon as the queue is empty */
	int loop;          /* run until SIGTERM (for a supervisor) */
	int verbose;
	int workers;       /* processes draining in parallel; 0 = one per
			      upstream slot (1 with --once) */
};

/* Largest response stored for a queued item. */
#define WORKER_RESPONSE_MAX (64u * 1024 * 1024)

/* Runs the loop in `workers` processes (forked here; the parent waits for
 * them and passes SIGTERM on); returns the process exit status. */
int worker_run(struct app *a, const struct worker_opts *o);

#endif
