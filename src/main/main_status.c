/* main_status.c - cgi-bin/status: FastCGI (or plain CGI) entry point. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("status", status_handle);
}
