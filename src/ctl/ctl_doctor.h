/* ctl_doctor.h - relayctl doctor (issue 31): checks an installation. */
#ifndef RELAY_CTL_DOCTOR_H
#define RELAY_CTL_DOCTOR_H

/* argv starts after "doctor". Exit 0 when every check passed, else 1. */
int ctl_doctor(int argc, char **argv);

#endif
