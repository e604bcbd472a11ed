/* skel.h - the skeleton of a user name: what it looks like, for refusing
 * a new name that only looks like an existing one (issue 25.12).
 *
 * Case is folded (ASCII, Latin-1, Greek, Cyrillic capitals), the common
 * Cyrillic and Greek look-alikes of Latin letters and the fullwidth forms
 * of ASCII become those letters, 0 becomes o and 1 and | become l, and
 * invisible characters (soft hyphen, zero-width and bidi marks, BOM,
 * combining marks) are dropped. "Admin", Cyrillic "аdmin", "ad\u200bmin"
 * and "аdmіn" all share the skeleton of "admin". Everything else
 * (e.g. CJK) stays as it is. Not Unicode's full confusables table: a
 * small mapping of what is typed to impersonate a Latin name. */
#ifndef RELAY_SKEL_H
#define RELAY_SKEL_H

#include <stddef.h>

/* The skeleton of the NUL-terminated UTF-8 name `in` into out (outlen
 * bytes, NUL-terminated). 0, or -1 when `in` is not valid UTF-8 or the
 * skeleton does not fit. */
int skel_name(const char *in, char *out, size_t outlen);

#endif
