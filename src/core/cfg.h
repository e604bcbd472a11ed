/* cfg.h - configuration: INI file + RELAY_* environment overrides.
 *
 * Read once per process, before the accept loop. A table of settings
 * {name, type, min, max, default} drives parsing; an unknown key, a bad value
 * or a value out of range is an error naming the key and file:line. */
#ifndef RELAY_CFG_H
#define RELAY_CFG_H

#include <stddef.h>

#define CFG_DEFAULT_PATH "/etc/llm-relay/relay.conf"

struct cfg {
	char db_host[256];
	int db_port;
	char db_socket[512];
	char db_user[128];
	char db_password[256];
	char db_name[128];
	int db_read_timeout;        /* seconds, MYSQL_OPT_READ_TIMEOUT */
	int db_write_timeout;       /* seconds, MYSQL_OPT_WRITE_TIMEOUT */
	char openai_url[2048];      /* full endpoint URL, "" = not configured */
	char anthropic_url[2048];   /* full endpoint URL, "" = not configured */
	char upstream_api_key[1024];
	int ssl_verify;             /* bool */
	int request_timeout;        /* seconds */
	int connect_timeout;        /* seconds */
	int upstream_slots;
	int queue_max;
	/* the concurrency cap of a user whose max_concurrent is 0: 0 none,
	 * -1 max(1, upstream_slots / 2), N (issue 25.9) */
	int user_max_concurrent;
	long long max_body_bytes;
	char timezone[128];         /* "" = system zone */
	int result_retention_hours;
	int queue_wait_max;         /* seconds an inline waiter may wait */
	char lock_prefix[64];
	char disk_path[512];        /* folder whose disk status.php reports */
	/* SDK routes (issue 11) */
	char openai_base_url[2048];    /* "" = openai_url minus /chat/completions */
	char anthropic_base_url[2048]; /* "" = anthropic_url minus /v1/messages */
	char models[4096];             /* GET /v1/models list, comma-separated;
					  "" = the upstream's own list */
	int count_tokens_forward;   /* /v1/messages/count_tokens sent upstream,
				       at most this many per user and second
				       (the rest and 0 = all: estimated here) */
	int registration_enabled;   /* console self-registration (bool, off) */
	int console_session_hours;  /* console login lifetime */
	/* hardening (issue 12) */
	int stream_usage;           /* bool: ask OpenAI streams for usage */
	int stream_max_seconds;     /* longest exchange, streams included */
	int client_write_timeout;   /* seconds a write to the client may block */
	int drain_max_seconds;      /* reading on after the client left */
	long long drain_max_bytes;
	/* several upstream accounts (issue 13) */
	char master_key_file[512];  /* seals backend keys; "" = none */
	int backend_max_tries;      /* tries of one request across backends */
	int backend_fail_threshold; /* failures in a row before a cool-down */
	int backend_cooldown;       /* first cool-down, seconds (doubles) */
	int backend_cooldown_max;   /* longest cool-down, seconds */
	/* translation (issue 14) */
	int translate;              /* bool: translate when the client's
				       format has no upstream (xlate.h) */
	char responses[8];          /* auto | yes | no: the default backend
				       serves /responses natively (issue 26) */
	int translate_reasoning;    /* bool: Anthropic thinking becomes
				       OpenAI reasoning_effort (the OpenAI-
				       format upstream takes it) */
	/* operations (issue 16) */
	char metrics_allow[1024];   /* addresses/CIDRs that may GET /metrics */
	char metrics_token[256];    /* "" = none; else Bearer token that may */
	int log_retention_days;     /* request_log rows kept; 0 = forever */
	int log_archive;            /* bool: copy purged rows to request_log_archive */
	int meter_async;            /* bool: meter a direct request on the metering
				       thread after its answer (meterq.h) */
	char meter_socket[256];     /* "" = none; else bin/meterd's socket: a
				       direct request's metering goes there
				       (meterd.h), the thread is the fallback */
	int meter_batch_ms;         /* meterd: how long a record may wait for
				       others to share its commit, 0..1000 */
	char meter_peer_user[64];   /* meterd: the web server's user, whose
				       processes may send records */
	/* relayctl doctor (issue 31) */
	char public_url[512];       /* the relay's URL through its web server,
				       e.g. https://relay.example.com; "" = the
				       status.php check is skipped */
	char web_conf[512];         /* the web server's llm-relay snippet, whose
				       pool doctor compares; "" = the usual
				       apache2/lighttpd paths */
	char cron_file[512];        /* the cron entries doctor looks for */
	char path[512];             /* the file read ("" if none) */
};

/* Fills *c with defaults, then the file, then the environment.
 * The file is $RELAY_CONFIG, else CFG_DEFAULT_PATH; a missing file is an
 * error only when RELAY_CONFIG names it explicitly.
 * Returns 0, or -1 with a one-line message in err (e.g.
 * "relay.conf:12: request_timeout: 0 out of range 1..86400").
 * Applies the timezone (TZ + tzset) so localtime() follows it. */
int cfg_load(struct cfg *c, char *err, size_t errlen);

/* Same, from an explicit path (NULL = no file) and an environment lookup
 * function (NULL = getenv); for tests and fuzzing. */
int cfg_load_from(struct cfg *c, const char *path,
		  const char *(*env)(const char *name), char *err, size_t errlen);

/* Parses INI text (the file's content) into *c without defaults/env. `name`
 * is used in messages. Returns 0 or -1 with err set. */
int cfg_parse_text(struct cfg *c, const char *name, const char *text,
		   size_t len, char *err, size_t errlen);

/* Sets every field to its default. */
void cfg_defaults(struct cfg *c);

/* One setting as the generated documentation shows it (tools/cfgdoc.c,
 * docs/ops/configuration.md, relay.conf.example). kind is "string",
 * "integer" or "boolean"; min..max is a number's range or a string's
 * length range; def is the default as a config file spells it. */
struct cfg_info {
	const char *name;
	const char *kind;
	const char *doc;
	long long min, max;
	char def[64];
};

/* Fills *out with setting i (0-based, in the table's order); returns 0, or
 * -1 when there is no setting i. */
int cfg_info(size_t i, struct cfg_info *out);

#endif
