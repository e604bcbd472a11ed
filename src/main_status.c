/* main_status.c - cgi-bin/status: FastCGI (or CGI) entry point. */
#include "app.h"

int main(void)
{
	static struct app a;
	int rc;

	app_init(&a, "status");
	rc = web_run(status_handle, &a);
	app_free(&a);
	return rc;
}
