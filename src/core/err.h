/* Layer core (src/core/): buffers, errors, log, config, query strings,
 * hashing, sealing, templates, UTF-8 clipping; no I/O. */
/* err.h - the one error enum of llm-relay and its strerror table.
 *
 * Library functions return an enum relay_err; 0 means success. Callers pass
 * errors up with `if (rc) goto out;` and turn them into an HTTP answer in
 * exactly one place (resp.c). */
#ifndef RELAY_ERR_H
#define RELAY_ERR_H

enum relay_err {
	RE_OK = 0,
	RE_ENOMEM,      /* allocation failed */
	RE_ETOOBIG,     /* a capped buffer would exceed its maximum */
	RE_EINVAL,      /* bad input from a client or caller */
	RE_ECONFIG,     /* configuration missing or invalid */
	RE_EDB,         /* database unreachable or a statement failed */
	RE_ENOTFOUND,   /* no such row */
	RE_EUPSTREAM,   /* transport failure talking to the upstream */
	RE_ECLIENT,     /* the client went away while we wrote to it */
	RE_EBUSY,       /* no free upstream slot */
	RE_EIO,         /* local I/O failure */
	RE_ERR_MAX
};

/* Static English text for an error code, never NULL. */
const char *relay_strerror(enum relay_err e);

#endif
