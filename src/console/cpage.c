/* cpage.c - the small HTML builders of the console's pages (cpage.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "app.h"
#include "console.h"
#include "cpage.h"
#include "db.h"
#include "log.h"
#include "resp.h"

/* ---- small builders ---- */

/* Appends s escaped ("-" for NULL). */
void ph_text(struct buf *b, const char *s)
{
	if (!s)
		s = "-";
	tmpl_escape_html(s, strlen(s), b);
}

/* A JSON value as cell text: strings escaped, numbers, booleans as 是/否,
 * arrays joined with ", ", null as "-". */
static void ph_value(struct buf *b, struct json_object *v)
{
	if (!v) {
		buf_puts(b, "<span class=\"muted\">-</span>");
	} else if (json_object_is_type(v, json_type_boolean)) {
		buf_puts(b, json_object_get_boolean(v) ? "是" : "否");
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				buf_puts(b, ", ");
			ph_text(b, json_object_get_string(json_object_array_get_idx(v, i)));
		}
	} else {
		ph_text(b, json_object_get_string(v));
	}
}

/* o.key or NULL. */
struct json_object *ph_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

long long ph_int(struct json_object *o, const char *key)
{
	return json_object_get_int64(ph_get(o, key));
}

const char *ph_str(struct json_object *o, const char *key)
{
	struct json_object *v = ph_get(o, key);

	return v ? json_object_get_string(v) : NULL;
}

/* The hidden CSRF field of a form. */
void ph_csrf(struct con *c, struct buf *b)
{
	buf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", c->s.csrf);
}

/* A one-button POST form to /console/<path> (path built from constants
 * and numbers only). */
void ph_button(struct con *c, struct buf *b, const char *path, const char *label,
		      const char *cls)
{
	buf_printf(b, "<form method=\"post\" action=\"/console/%s\" class=\"inline\">", path);
	ph_csrf(c, b);
	buf_printf(b, "<button type=\"submit\" class=\"%s\">%s</button></form>", cls, label);
}

/* A table of the objects in arr with cols and an optional action column. */
void ph_table(struct con *c, struct buf *b, const char *id, struct json_object *arr,
		     const struct ph_col *cols, size_t ncols, const char *act_head,
		     ph_row_fn act)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	buf_printf(b, "<table id=\"%s\"><thead><tr>", id);
	for (size_t k = 0; k < ncols; k++)
		buf_printf(b, "<th>%s</th>", cols[k].head);
	if (act)
		buf_printf(b, "<th>%s</th>", act_head);
	buf_puts(b, "</tr></thead><tbody>");
	for (size_t i = 0; i < n; i++) {
		struct json_object *row = json_object_array_get_idx(arr, i);
		buf_printf(b, "<tr data-id=\"%lld\">", ph_int(row, "id"));
		for (size_t k = 0; k < ncols; k++) {
			buf_printf(b, "<td class=\"%s c-%s\">", cols[k].num ? "num" : "txt", cols[k].key);
			ph_value(b, ph_get(row, cols[k].key));
			buf_puts(b, "</td>");
		}
		if (act) {
			buf_puts(b, "<td>");
			act(c, b, row);
			buf_puts(b, "</td>");
		}
		buf_puts(b, "</tr>");
	}
	if (!n)
		buf_printf(b, "<tr><td colspan=\"%zu\" class=\"muted\">（无）</td></tr>",
			   ncols + (act ? 1 : 0));
	buf_puts(b, "</tbody></table>");
}

/* The page after a failed query. */
void ph_dberr(struct con *c)
{
	log_error("console page %s: %s", c->path, db_error(c->a->db));
	con_page_error(c, 500, "数据库错误");
}

/* A labelled input of the edit form holding the user's current value. */
void ph_input(struct buf *b, const char *label, const char *name, struct json_object *v)
{
	buf_printf(b, "<label>%s <input name=\"%s\" id=\"u-%s\" value=\"", label, name, name);
	if (v && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				buf_puts(b, ",");
			ph_text(b, json_object_get_string(json_object_array_get_idx(v, i)));
		}
	else if (v)
		ph_text(b, json_object_get_string(v));
	buf_puts(b, "\"></label>");
}

/* A yes/no select of the edit form. */
void ph_select01(struct buf *b, const char *label, const char *name, int cur,
			const char *no, const char *yes)
{
	buf_printf(b, "<label>%s <select name=\"%s\" id=\"u-%s\"><option value=\"0\"%s>%s</option>"
		   "<option value=\"1\"%s>%s</option></select></label>", label, name, name,
		   cur ? "" : " selected", no, cur ? " selected" : "", yes);
}
