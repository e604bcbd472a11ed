/* resp.c - HTTP status, headers and the JSON error body. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "log.h"
#include "resp.h"

const char *resp_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default:  return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

const char *resp_default_message(int code)
{
	switch (code) {
	case 400: return "请求参数错误";
	case 401: return "API Key无效或缺失";
	case 404: return "资源不存在";
	case 405: return "请求方法不允许";
	case 413: return "请求体过大";
	case 429: return "超出每日限额";
	case 500: return "系统配置错误";
	case 502: return "大模型API调用失败";
	case 503: return "队列已满,请稍后重试";
	default:  return "请求失败";
	}
}

/* 1 if s is safe inside a header value (no CR, LF or other controls). */
static int resp_header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return 0;
	return 1;
}

int resp_start(struct web_req *r, int status, const char *content_type,
	       const char *extra)
{
	char head[512];
	int n;

	if (r->headers_sent)
		return 0;
	r->headers_sent = 1;
	if (!content_type || !resp_header_safe(content_type) ||
	    strlen(content_type) > 200)
		content_type = "application/octet-stream";
	if (status < 100 || status > 999)
		status = 502;
	n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\n",
		     status, resp_reason(status), content_type);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (web_write(r, head, (size_t)n) < 0)
		return -1;
	if (extra && web_write(r, extra, strlen(extra)) < 0)
		return -1;
	return web_write(r, "\r\n", 2);
}

int resp_json(struct web_req *r, int status, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(obj, RESP_JSON_FLAGS, &len);

	if (resp_start(r, status, "application/json; charset=utf-8",
		       "Cache-Control: no-store\r\n") < 0)
		return -1;
	if (web_write(r, s, len) < 0)
		return -1;
	return web_flush(r);
}

int resp_error(struct web_req *r, int code, const char *message,
	       struct json_object *data)
{
	return resp_error_h(r, code, message, data, NULL);
}

int resp_error_h(struct web_req *r, int code, const char *message,
		 struct json_object *data, const char *extra)
{
	struct json_object *o;
	size_t len;
	const char *s;
	int rc;

	if (!message)
		message = resp_default_message(code);
	if (r->headers_sent) {
		log_warn("error after response started (%d): %s", code, message);
		json_object_put(data);
		return -1;
	}
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(0));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(o, "code", json_object_new_int(code));
	s = json_object_to_json_string_length(o, RESP_JSON_FLAGS, &len);
	rc = resp_start(r, code, "application/json; charset=utf-8", extra ? extra :
			"Cache-Control: no-store\r\n");
	if (!rc && web_write(r, s, len) < 0)
		rc = -1;
	if (!rc)
		rc = web_flush(r);
	json_object_put(o);
	return rc;
}

int resp_sse_error(struct web_req *r, int code, const char *message)
{
	struct json_object *o = json_object_new_object();
	char head[64];
	const char *s;
	size_t len;
	int n, rc;

	json_object_object_add(o, "success", json_object_new_boolean(0));
	json_object_object_add(o, "message", json_object_new_string(message));
	json_object_object_add(o, "code", json_object_new_int(code));
	s = json_object_to_json_string_length(o, RESP_JSON_FLAGS, &len);
	n = snprintf(head, sizeof(head), "event: error\ndata: ");
	rc = web_write(r, head, (size_t)n) || web_write(r, s, len) ||
	     web_write(r, "\n\n", 2) || web_flush(r);
	json_object_put(o);
	return rc ? -1 : 0;
}
