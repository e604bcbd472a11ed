/* h_status.c - GET /api/status.php: health and statistics, no key (SPEC §6). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "doors.h"
#include "resp.h"
#include "status.h"

void status_handle(struct web_req *r, void *ctx)
{
	struct app *a = ctx;
	struct json_object *o;
	int code;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		resp_error(r, 405, "请使用GET方法", NULL);
		return;
	}
	if (!app_ready(a, r))
		return;
	o = status_build(a, &code);
	resp_json(r, code, o);
	json_object_put(o);
}
