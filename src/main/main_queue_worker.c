/* main_queue_worker.c - bin/queue_worker: cron job draining the queue.
 *   queue_worker [--max-seconds N] [--workers N] [--once] [--loop] [-v] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "worker.h"

static int usage(void)
{
	fprintf(stderr, "usage: queue_worker [--max-seconds N] [--workers N] [--once] [--loop] [-v]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct app a;
	struct worker_opts o = { .max_seconds = 55 };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			o.once = 1;
		else if (strcmp(argv[i], "--loop") == 0)
			o.loop = 1;
		else if (strcmp(argv[i], "-v") == 0)
			o.verbose = 1;
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			char *end;
			long v;
			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno || *end || v < 1 || v > 1000)
				return usage();
			o.workers = (int)v;
		} else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
			char *end;
			long v;
			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno || *end || v < 1 || v > 86400)
				return usage();
			o.max_seconds = (int)v;
		} else
			return usage();
	}
	app_init(&a, "queue_worker");
	if (!a.cfg_ok) {
		fprintf(stderr, "queue_worker: %s\n", a.cfg_err);
		return 2;
	}
	rc = worker_run(&a, &o);
	app_free(&a);
	return rc;
}
