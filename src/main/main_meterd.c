/* main_meterd.c - bin/meterd: the host's metering daemon (meterd.h).
 *   meterd [-v] */
#include <stdio.h>
#include <string.h>
#include "app.h"
#include "meterd.h"

int main(int argc, char **argv)
{
	static struct app a;
	struct meterd_opts o = { 0 };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			o.verbose = 1;
		else {
			fprintf(stderr, "usage: meterd [-v]\n");
			return 2;
		}
	}
	app_init(&a, "meterd");
	if (!a.cfg_ok) {
		fprintf(stderr, "meterd: %s\n", a.cfg_err);
		return 2;
	}
	if (!a.cfg.meter_socket[0]) {
		fprintf(stderr, "meterd: meter_socket is not set in the config\n");
		return 2;
	}
	rc = meterd_run(&a, &o);
	app_free(&a);
	return rc;
}
