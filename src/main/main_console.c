/* main_console.c - cgi-bin/console: the web console (issue 15). */
#include "app.h"
#include "console.h"

int main(void)
{
	return app_web_main("console", console_handle);
}
