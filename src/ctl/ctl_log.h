/* ctl_log.h - `relayctl log purge`: request_log retention on demand. */
#ifndef RELAY_CTL_LOG_H
#define RELAY_CTL_LOG_H

struct app;

/* argv after "log". Exit status: 0 done, 1 database failure, 2 bad usage. */
int ctl_log(struct app *a, int argc, char **argv);

#endif
