/* err.c - strerror table for enum relay_err. */
#include "err.h"

static const char *const err_text[RE_ERR_MAX] = {
	[RE_OK] = "ok",
	[RE_ENOMEM] = "out of memory",
	[RE_ETOOBIG] = "too large",
	[RE_EINVAL] = "invalid input",
	[RE_ECONFIG] = "configuration error",
	[RE_EDB] = "database error",
	[RE_ENOTFOUND] = "not found",
	[RE_EUPSTREAM] = "upstream failure",
	[RE_ECLIENT] = "client disconnected",
	[RE_EBUSY] = "no free upstream slot",
	[RE_EIO] = "i/o error",
};

const char *relay_strerror(enum relay_err e)
{
	if ((unsigned)e >= RE_ERR_MAX || !err_text[e])
		return "unknown error";
	return err_text[e];
}
