/* A strict JSON reader (RFC 8259) for the /api/send and /api/batch bodies: it walks one
 * object or array member by member over the request body itself, decoding strings in
 * place (never longer than their escaped form), so reading a body allocates nothing.
 * It accepts exactly what jansson's json_loadb(JSON_DECODE_INT_AS_REAL) accepts; see
 * analytics_json.c for the rules and tests/fuzz/fuzz_analytics_json.c for the check.
 *
 * Ownership: the reader owns nothing. Values point into the walked text, which must
 * outlive them; walking a container rewrites its strings, so each is walked once. */
#ifndef ANALYTICS_JSON_H
#define ANALYTICS_JSON_H

#include <stddef.h>

/* Values nested deeper are refused: jansson's JSON_PARSER_MAX_DEPTH, counted as it
 * counts (the top level is 1, a scalar inside it 2). */
#define ANALYTICS_JSON_DEPTH_MAX 2048

typedef enum analytics_json_type {
    ANALYTICS_JSON_STRING,
    ANALYTICS_JSON_NUMBER,
    ANALYTICS_JSON_TRUE,
    ANALYTICS_JSON_FALSE,
    ANALYTICS_JSON_NULL,
    ANALYTICS_JSON_OBJECT,
    ANALYTICS_JSON_ARRAY,
} analytics_json_type_t;

typedef struct analytics_json_value {
    analytics_json_type_t type;
    /* STRING: the decoded UTF-8 (never holding a NUL), NUL-terminated in place.
     * OBJECT, ARRAY: the container's text, brackets included, validated but untouched
     * (walk it with analytics_json_enter, or hand it to another parser). */
    char *s;
    size_t len;     /* bytes of s, without the terminating NUL */
    double num;     /* NUMBER: strtod's value */
    unsigned depth; /* nesting level: the document's top level is 1 */
} analytics_json_value_t;

/** A walk over the members of one object or the elements of one array. Its fields are
 *  the reader's; error and error_at are for messages. */
typedef struct analytics_json_iter {
    char *p, *end;     /* the next byte to read; the end of the walked text */
    const char *text;  /* where the walked text starts */
    unsigned depth;    /* nesting level of the container walked */
    char close;        /* '}' or ']' */
    char state;        /* before the first member, between members, ended */
    char top;          /* the document itself: only whitespace may follow it */
    const char *error; /* what was wrong ("invalid escape"), NULL while nothing was */
    size_t error_at;   /* byte offset of the error in the walked text */
    struct analytics_json_iter *inner; /* the walk analytics_json_next_into handed out */
} analytics_json_iter_t;

/** Starts walking the document doc[0..len) (NULL with len 0 is the empty document): it
 *  must be an object or an array, told in *type. Returns 0, or -EINVAL with it->error
 *  set. The walk validates what it passes; its last analytics_json_next also checks
 *  that nothing but whitespace follows the document. */
int analytics_json_open(analytics_json_iter_t *it, char *doc, size_t len,
                        analytics_json_type_t *type);

/** Starts walking a container v that a walk returned, not walked before. */
void analytics_json_enter(analytics_json_iter_t *it, const analytics_json_value_t *v);

/** Reads the next member: for an object its key (a STRING) and value, for an array the
 *  element in *val (key may then be NULL). Returns 1, 0 once the container (and for a
 *  document, its trailing whitespace) is read, or -EINVAL with it->error set; after 0
 *  or -EINVAL it keeps returning the same. */
int analytics_json_next(analytics_json_iter_t *it, analytics_json_value_t *key,
                        analytics_json_value_t *val);

/** analytics_json_next for a walk whose caller reads an object value's members in the
 *  same pass (rather than the walk checking the object first, then the caller reading it
 *  again): an object value comes back in *val unread (val->s at its '{', val->len 0)
 *  with *inner a walk over it, as analytics_json_enter would start it but with error
 *  offsets counted from where this walk's text starts. inner must stay valid until the
 *  next call on it: that call moves it past the object, first reading (and checking)
 *  what the caller left of the inner walk, and returns -EINVAL if the object was not
 *  valid JSON. Other values come back as analytics_json_next gives them. */
int analytics_json_next_into(analytics_json_iter_t *it, analytics_json_value_t *key,
                             analytics_json_value_t *val, analytics_json_iter_t *inner);

/** Reads the rest of the walk without changing the text (strings are validated, not
 *  decoded), counting the members or elements read into *n. Returns 0 or -EINVAL. A
 *  walk opened again then reads the same members. */
int analytics_json_count(analytics_json_iter_t *it, size_t *n);

#endif
