/* log.c - single-line stderr logging. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

static const char *log_prog = "llm-relay";
/* per thread: the metering thread (meterq.c) logs under its own item's id */
static _Thread_local char log_req[40];

void log_init(const char *prog)
{
	log_prog = prog;
}

void log_set_request(const char *id)
{
	snprintf(log_req, sizeof(log_req), "%s", id ? id : "");
}

const char *log_request(void)
{
	return log_req;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	char msg[1024], ts[32], line[1200];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s %s %s[%ld]%s%s: %s\n", ts,
		     names[lvl], log_prog, (long)getpid(),
		     log_req[0] ? " req=" : "", log_req, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* One write() so concurrent processes' lines do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
