/* v1err.h - errors of the SDK routes in each API's own format.
 *
 * OpenAI routes:    {"error":{"message":...,"type":...,"param":null,"code":...}}
 * Anthropic routes: {"type":"error","error":{"type":...,"message":...}}
 * The SDKs map the HTTP status to their exception classes and read the
 * type; Claude Code also retries on 529 overloaded_error. call.php keeps the
 * seed's format (resp.h). */
#ifndef RELAY_V1ERR_H
#define RELAY_V1ERR_H

#include "buf.h"
#include "fmt.h"
#include "web.h"

/* The error type for an HTTP status in format f ("invalid_request_error",
 * "authentication_error", "permission_error", "not_found_error",
 * "request_too_large", "rate_limit_error", "api_error",
 * "overloaded_error"). Static string. */
const char *v1err_type(enum fmt_kind f, int status);

/* The status a busy/full/timed-out upstream is answered with: 503 for
 * OpenAI, 529 for Anthropic (what each API itself sends). */
int v1err_busy_status(enum fmt_kind f);

/* Appends the JSON error body to the caller's b. type NULL = v1err_type();
 * code NULL = no code (OpenAI "code": null). Returns RE_OK or RE_ETOOBIG. */
enum relay_err v1err_json(struct buf *b, enum fmt_kind f, int status,
			  const char *type, const char *message, const char *code);

/* Appends the same error as one SSE event (Anthropic "event: error" +
 * data; OpenAI "data: {error}"), for a stream whose status line is out. */
enum relay_err v1err_sse(struct buf *b, enum fmt_kind f, int status,
			 const char *type, const char *message);

/* Answers the error: status, JSON body, `extra` header lines (NULL or
 * "Name: value\r\n"...). When the SSE headers are already out (a waiter's
 * queue comments) it writes the error as an event instead. */
int v1err_send(struct web_req *r, enum fmt_kind f, int status,
	       const char *type, const char *message, const char *code,
	       const char *extra);

#endif
