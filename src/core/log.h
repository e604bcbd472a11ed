/* log.h - one line per event on stderr (the web server's error log):
 * time, level, program[pid], request id, message.
 * Never pass API keys, Authorization headers or the upstream key here. */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the program name shown in every line (static string, not copied). */
void log_init(const char *prog);
/* Sets the request id shown in every line ("" for none; copied). */
void log_set_request(const char *id);
/* This thread's request id ("" outside a request). */
const char *log_request(void);
/* Writes one line. Newlines in the message are replaced by spaces so a
 * client-controlled value can never forge a second log line. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
