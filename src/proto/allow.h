/* allow.h - a model allow-list: a comma-separated list of model names
 * ("*" = every model), as users.models and api_keys.models hold it. Pure
 * string work, so admission, key creation and the model list all read a
 * list the same way, and a fuzz target can reach it. */
#ifndef RELAY_ALLOW_H
#define RELAY_ALLOW_H

/* 1 when `model` may be used under `list` (set = 0: no list, every model;
 * "*" in the list allows all; names are compared whole, blanks around
 * them ignored). */
int allow_model(const char *list, int set, const char *model);
#endif
