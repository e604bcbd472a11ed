/* main_call.c - cgi-bin/call: FastCGI (or CGI) entry point. */
#include "app.h"

int main(void)
{
	static struct app a;
	int rc;

	app_init(&a, "call");
	rc = web_run(call_handle, &a);
	app_free(&a);
	return rc;
}
