/* Layer ctl (src/ctl/): relayctl, the operator's command line. */
/* ctl.h - relayctl, the admin command line (users, keys, usage, queue,
 * migrations). Exit status: 0 ok, 1 failed operation, 2 bad usage/config. */
#ifndef RELAY_CTL_H
#define RELAY_CTL_H

int ctl_main(int argc, char **argv);

#endif
