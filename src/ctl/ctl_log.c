/* ctl_log.c - `relayctl log purge [--days N] [--archive|--no-archive]
 * [--batch N] [--pause-ms N] [--dry-run]`: works off the whole backlog in
 * the same small batches as the queue worker's once-a-minute round (so it
 * can run beside live traffic), printing progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "ctl_log.h"
#include "db.h"
#include "retain.h"

static int ctl_log_usage(const char *why)
{
	fprintf(stderr, "relayctl: %s (usage: relayctl log purge [--days N] [--archive|--no-archive]"
		" [--batch N] [--pause-ms N] [--dry-run])\n", why);
	return 2;
}

static int ctl_log_num(const char *s, long long lo, long long hi, int *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	v = strtoll(s, &end, 10);
	if (*end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int ctl_log(struct app *a, int argc, char **argv)
{
	struct retain_opts o = { .days = a->cfg.log_retention_days,
		.archive = a->cfg.log_archive, .batch = RETAIN_BATCH_DEFAULT,
		.pause_ms = RETAIN_PAUSE_DEFAULT };
	struct retain_result r;

	if (argc < 1 || strcmp(argv[0], "purge") != 0)
		return ctl_log_usage("log needs the subcommand purge");
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--days") == 0) {
			if (ctl_log_num(v, 1, 36500, &o.days))
				return ctl_log_usage("--days takes a number 1..36500");
			i++;
		} else if (strcmp(argv[i], "--batch") == 0) {
			if (ctl_log_num(v, 1, 100000, &o.batch))
				return ctl_log_usage("--batch takes a number 1..100000");
			i++;
		} else if (strcmp(argv[i], "--pause-ms") == 0) {
			if (ctl_log_num(v, 0, 60000, &o.pause_ms))
				return ctl_log_usage("--pause-ms takes a number 0..60000");
			i++;
		} else if (strcmp(argv[i], "--archive") == 0) {
			o.archive = 1;
		} else if (strcmp(argv[i], "--no-archive") == 0) {
			o.archive = 0;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			o.dry_run = 1;
		} else {
			return ctl_log_usage("unknown option for log purge");
		}
	}
	if (o.days < 1)
		return ctl_log_usage("log_retention_days is 0 (keep forever): give --days N");
	if (retain_purge(a->db, &o, &r)) {
		fprintf(stderr, "relayctl: log purge failed after %lld row(s) in %lld batch(es): %s\n",
			r.deleted, r.batches, db_error(a->db));
		return 1;
	}
	printf("%s %lld request_log row(s) older than %d day(s) in %lld batch(es) of at most %d%s\n",
	       o.dry_run ? "would purge" : o.archive ? "archived and deleted" : "deleted",
	       r.deleted, o.days, r.batches, o.batch,
	       o.archive && !o.dry_run ? " (to request_log_archive)" : "");
	return 0;
}
