/* main_docs.c - cgi-bin/docs: FastCGI (or CGI) entry point of the HTML
 * documentation and status page served at /api/ and /. */
#include "app.h"

int main(void)
{
	static struct app a;
	int rc;

	app_init(&a, "docs");
	rc = web_run(docs_handle, &a);
	app_free(&a);
	return rc;
}
