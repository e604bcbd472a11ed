/* main_metrics.c - cgi-bin/metrics: FastCGI (or plain CGI) entry point. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("metrics", metrics_handle);
}
