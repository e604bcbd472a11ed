/* main_docs.c - cgi-bin/docs: FastCGI (or plain CGI) entry point. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("docs", docs_handle);
}
