/* ctl_backend.h - relayctl backend ... (issue 13), and the audit row
 * helper it shares with ctl.c. */
#ifndef RELAY_CTL_BACKEND_H
#define RELAY_CTL_BACKEND_H

struct app;

/* relayctl backend add|list|set|enable|disable|del|test|presets; argv
 * starts after "backend". Exit status as ctl.h. */
int ctl_backend(struct app *a, int argc, char **argv);

/* One audit_log row for a change made from the shell (ctl.c). */
void ctl_audit(struct app *a, const char *action, const char *target,
	       const char *detail);

#endif
