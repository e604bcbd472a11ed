/* main_relayctl.c - bin/relayctl: the admin command line. */
#include "ctl.h"

int main(int argc, char **argv)
{
	return ctl_main(argc, argv);
}
