/* main_call.c - cgi-bin/call: FastCGI (or plain CGI) entry point. */
#include "app.h"
#include "doors.h"

int main(void)
{
	return app_web_main("call", call_handle);
}
