/* main_queue_status.c - cgi-bin/queue_status: FastCGI (or plain CGI) entry point. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("queue_status", queue_status_handle);
}
