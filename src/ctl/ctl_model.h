/* ctl_model.h - relayctl model ... (issue 29): models as first-class
 * entries, the command line over madmin.c. */
#ifndef RELAY_CTL_MODEL_H
#define RELAY_CTL_MODEL_H

struct app;

/* relayctl model list|add|set|del|backend; argv starts after "model".
 * Exit status as ctl.h. */
int ctl_model(struct app *a, int argc, char **argv);
#endif
