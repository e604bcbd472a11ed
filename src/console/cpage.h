/* cpage.h - the small HTML builders of the console's pages, shared by
 * h_console_pages.c and h_console_backends.c. Every value from the
 * database or the request goes through ph_text (HTML escaping); markup
 * comes from constants only. */
#ifndef RELAY_CPAGE_H
#define RELAY_CPAGE_H

#include <stddef.h>
#include "buf.h"

struct con;
struct json_object;

#define PH_MAX (4 * 1024 * 1024)

/* Appends s escaped ("-" for NULL). */
void ph_text(struct buf *b, const char *s);
/* o.key (borrowed) or NULL; its integer; its text (NULL when absent). */
struct json_object *ph_get(struct json_object *o, const char *key);
long long ph_int(struct json_object *o, const char *key);
const char *ph_str(struct json_object *o, const char *key);

/* The hidden CSRF field of a form. */
void ph_csrf(struct con *c, struct buf *b);
/* A one-button POST form to /console/<path> (path built from constants
 * and numbers only). */
void ph_button(struct con *c, struct buf *b, const char *path, const char *label,
	       const char *cls);

/* A table column: JSON key, header text, 1 = right-aligned number. */
struct ph_col {
	const char *key, *head;
	int num;
};

/* Per-row extra cell (actions), may be NULL. */
typedef void (*ph_row_fn)(struct con *c, struct buf *b, struct json_object *row);

/* A table of the objects in arr with cols and an optional action column. */
void ph_table(struct con *c, struct buf *b, const char *id, struct json_object *arr,
	      const struct ph_col *cols, size_t ncols, const char *act_head, ph_row_fn act);

/* A labelled text input of a form, its value v (an array joined by ','). */
void ph_input(struct buf *b, const char *label, const char *name, struct json_object *v);
/* A yes/no select of a form. */
void ph_select01(struct buf *b, const char *label, const char *name, int cur,
		 const char *no, const char *yes);

/* The page after a failed query. */
void ph_dberr(struct con *c);

#endif
