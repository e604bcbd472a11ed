/* ctl_backend.h - relayctl backend ... (issue 13). */
#ifndef RELAY_CTL_BACKEND_H
#define RELAY_CTL_BACKEND_H

struct app;

/* relayctl backend add|list|set|enable|disable|del|test|presets; argv
 * starts after "backend". Exit status as ctl.h. */
int ctl_backend(struct app *a, int argc, char **argv);
/* relayctl proxy list | revoke USER: the members' proxy URLs (issue 28). */
int ctl_proxy(struct app *a, int argc, char **argv);

#endif
