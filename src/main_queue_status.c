/* main_queue_status.c - cgi-bin/queue_status: FastCGI (or CGI) entry point. */
#include "app.h"

int main(void)
{
	static struct app a;
	int rc;

	app_init(&a, "queue_status");
	rc = web_run(queue_status_handle, &a);
	app_free(&a);
	return rc;
}
