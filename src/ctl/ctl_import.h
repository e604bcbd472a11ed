/* ctl_import.h - relayctl key import / import (issue 31, see imp.h). */
#ifndef RELAY_CTL_IMPORT_H
#define RELAY_CTL_IMPORT_H

struct app;

/* relayctl key import NAME [--expires D] [--models a,b]: the key is one
 * line of stdin, never an argument (ps shows those to every user); argv
 * starts at "import". Exit status as ctl.h. */
int ctl_key_import(struct app *a, int argc, char **argv);

/* relayctl import FILE [--dry-run] ("-" = stdin); argv starts after
 * "import". */
int ctl_import(struct app *a, int argc, char **argv);

#endif
