/* main_v1.c - cgi-bin/v1: the SDK routes (/v1/...), FastCGI or plain CGI. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("v1", v1_handle);
}
