/* manifest: the JSON documents of a bundle (manifest.json) and of a firmware group, checked
 * field by field (docs/update-bundle.md, "Manifest" and "Firmware groups"), the payload path
 * rule, and the product and firmware-group checks of a verified manifest.
 *
 * Invariants:
 *  1. A parse either returns a document in which every field passed its check, or nothing:
 *     callers never see a half-checked manifest.
 *  2. Unknown fields, duplicate keys, wrong types and a "format" other than 1 are refused: a
 *     signed document means exactly one thing.
 *  3. No payload path is unsafe (bundle_path_is_safe), none repeats, and none is a directory
 *     of another ("a" and "a/b"), so extraction can never overwrite or escape. */
#include "bundle/bundle_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ReleaseNotesType of Konfigurationsdienst.xsd: at most 2048 characters. */
#define RELEASE_NOTES_MAX 2048
/* A feature name: "VSDM", "KOM-LE". */
#define FEATURE_MAX 32

static const char *const check_names[BUNDLE_CHECK_MAX] = {
    "archive",  "signature", "chain",          "key-usage",
    "manifest", "product",   "firmware-group", "payloads",
};

const char *bundle_check_to_string(enum bundle_check check)
{
    return check < BUNDLE_CHECK_MAX ? check_names[check] : "unknown";
}

void bundle__err(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    if (!err || err_size == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* Messages quote names from the archive and certificates, which an attacker chooses: control
 * characters and bytes outside ASCII become '?', so that a message can go to a terminal, a log
 * line or a JSON string as it is. */
static void text_clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

int bundle__fail(struct bundle_result *r, int code, enum bundle_check check, const char *fmt, ...)
{
    const char *name = bundle_check_to_string(check);
    size_t n = strlen(name) + 2;
    va_list ap;

    r->code = code;
    r->check = check;
    (void)snprintf(r->message, sizeof(r->message), "%s: ", name);
    va_start(ap, fmt);
    (void)vsnprintf(r->message + n, sizeof(r->message) - n, fmt, ap);
    va_end(ap);
    text_clean(r->message);
    return 0;
}

void bundle__pass(const struct bundle_verify_opts *opts, enum bundle_check check, bool skipped,
                  const char *fmt, ...)
{
    char detail[BUNDLE_MESSAGE_MAX];
    va_list ap;

    if (!opts->on_check)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    text_clean(detail);
    opts->on_check(check, skipped, detail, opts->arg);
}

int bundle__sha256_from_hex(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64)
        return -EINVAL;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;

        for (size_t j = 0; j < 2; j++) {
            char c = hex[2 * i + j];

            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else
                return -EINVAL;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

bool bundle_path_is_safe(const char *path, const char **why)
{
    const char *reason = NULL;
    size_t len = strlen(path);
    size_t comp = 0; /* length of the current component */

    if (len == 0)
        reason = "empty";
    else if (len > BUNDLE_PATH_MAX)
        reason = "longer than 255 bytes";
    else if (path[0] == '/')
        reason = "absolute";
    else if (path[len - 1] == '/')
        reason = "ends with '/'";
    for (size_t i = 0; !reason && i <= len; i++) {
        char c = path[i];

        if (c == '/' || c == '\0') {
            if (comp == 0)
                reason = "empty component ('//')";
            else if (comp == 1 && path[i - 1] == '.')
                reason = "component '.'";
            else if (comp == 2 && path[i - 1] == '.' && path[i - 2] == '.')
                reason = "component '..' leaves the bundle";
            comp = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            reason = "a character outside [A-Za-z0-9._-/]";
        comp++;
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

/* ---- field checks ------------------------------------------------------------------------ */

/* Checks are run in order; the first failure writes err and makes the parse fail. */
struct ctx {
    json_t *obj;
    const char *doc; /* "manifest" or "group", for messages */
    char *err;
    size_t err_size;
    bool failed;
};

static bool fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (c->failed)
        return false;
    c->failed = true;
    if (c->err && c->err_size) {
        va_start(ap, fmt);
        (void)vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool is_alnum_(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* "[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}" (ProductInformation.xsd's version pattern). */
static bool is_version(const char *s)
{
    for (int part = 0; part < 3; part++) {
        size_t n = 0;

        while (s[n] >= '0' && s[n] <= '9')
            n++;
        if (n < 1 || n > 3)
            return false;
        s += n;
        if (part < 2) {
            if (*s != '.')
                return false;
            s++;
        }
    }
    return *s == '\0';
}

/* "YYYY-MM-DD", a date that exists, year 2000..9999. */
static bool is_date(const char *s)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
        return false;
    return !(m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

static bool is_printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* The string field key, checked for length [min, max]; NULL (and failed) otherwise. */
static const char *str_field(struct ctx *c, const char *key, size_t min, size_t max)
{
    json_t *v = json_object_get(c->obj, key);
    const char *s;

    if (c->failed)
        return NULL;
    if (!v) {
        fail(c, "%s: field '%s' is missing", c->doc, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        fail(c, "%s: field '%s' is not a string", c->doc, key);
        return NULL;
    }
    s = json_string_value(v);
    if (json_string_length(v) != strlen(s)) {
        fail(c, "%s: field '%s' holds a NUL character", c->doc, key);
        return NULL;
    }
    if (strlen(s) < min || strlen(s) > max) {
        fail(c, "%s: field '%s' must have %zu to %zu characters, not %zu", c->doc, key, min, max,
             strlen(s));
        return NULL;
    }
    return s;
}

/* A ProductVendorID or ProductCode: 1..max of [A-Za-z0-9_], copied into out (max + 1). */
static void id_field(struct ctx *c, const char *key, size_t max, char *out)
{
    const char *s = str_field(c, key, 1, max);

    if (!s)
        return;
    for (const char *p = s; *p; p++)
        if (!is_alnum_(*p)) {
            fail(c, "%s: field '%s' may hold only A-Z, a-z, 0-9 and _", c->doc, key);
            return;
        }
    memcpy(out, s, strlen(s) + 1);
}

static void version_field(struct ctx *c, const char *key, char *out)
{
    const char *s = str_field(c, key, 1, 11);

    if (!s)
        return;
    if (!is_version(s)) {
        fail(c, "%s: field '%s' is not a version like 1.2.3 ('%s')", c->doc, key, s);
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

static void date_field(struct ctx *c, const char *key, char *out)
{
    const char *s = str_field(c, key, 1, 10);

    if (!s)
        return;
    if (!is_date(s)) {
        fail(c, "%s: field '%s' is not a date YYYY-MM-DD ('%s')", c->doc, key, s);
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

static void text_field(struct ctx *c, const char *key, size_t min, size_t max, char *out)
{
    const char *s = str_field(c, key, min, max);

    if (!s)
        return;
    if (!is_printable_ascii(s)) {
        fail(c, "%s: field '%s' may hold only printable ASCII", c->doc, key);
        return;
    }
    memcpy(out, s, strlen(s) + 1);
}

static char *notes_field(struct ctx *c, const char *key)
{
    const char *s = str_field(c, key, 0, RELEASE_NOTES_MAX);
    char *copy;

    if (!s)
        return NULL;
    copy = strdup(s);
    if (!copy)
        fail(c, "out of memory");
    return copy;
}

/* Refuses keys outside allowed (invariant 2). */
static void no_unknown_fields(struct ctx *c, json_t *obj, const char *const *allowed, size_t n,
                              const char *where)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool known = false;

        for (size_t i = 0; i < n; i++)
            known = known || strcmp(key, allowed[i]) == 0;
        if (!known) {
            fail(c, "%s: unknown field '%s'", where, key);
            return;
        }
    }
}

static void format_field(struct ctx *c, int *out)
{
    json_t *v = json_object_get(c->obj, "format");

    if (c->failed)
        return;
    if (!v) {
        fail(c, "%s: field 'format' is missing", c->doc);
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        fail(c, "%s: field 'format' must be 1 (this reader knows no other)", c->doc);
        return;
    }
    *out = 1;
}

/* Opens the document: an object of at most BUNDLE_MANIFEST_MAX bytes without duplicate keys. */
static json_t *load(const void *json, size_t len, const char *doc, char *err, size_t err_size)
{
    json_error_t e;
    json_t *root;

    if (len > BUNDLE_MANIFEST_MAX) {
        bundle__err(err, err_size, "%s: larger than %d bytes", doc, BUNDLE_MANIFEST_MAX);
        return NULL;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        bundle__err(err, err_size, "%s: not valid JSON (line %d: %s)", doc, e.line, e.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        bundle__err(err, err_size, "%s: not a JSON object", doc);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- manifest ---------------------------------------------------------------------------- */

static const char *const manifest_fields[] = {
    "format",      "product_vendor_id", "product_code",         "product_name",
    "hw_version",  "fw_version",        "product_type_version", "created",
    "fw_priority", "deadline",          "release_notes",        "features",
    "payloads",
};

static const char *const payload_fields[] = {"path", "size", "sha256", "executable"};

struct bundle_manifest *bundle_manifest_free(struct bundle_manifest *m)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_features; i++)
        free(m->features[i]);
    free(m->features);
    for (size_t i = 0; i < m->n_payloads; i++)
        free(m->payloads[i].path);
    free(m->payloads);
    free(m->release_notes);
    free(m);
    return NULL;
}

bool bundle_manifest_has_feature(const struct bundle_manifest *m, const char *feature)
{
    for (size_t i = 0; i < m->n_features; i++)
        if (strcmp(m->features[i], feature) == 0)
            return true;
    return false;
}

static void priority_and_deadline(struct ctx *c, struct bundle_manifest *m)
{
    const char *prio = str_field(c, "fw_priority", 1, 16);
    json_t *deadline = json_object_get(c->obj, "deadline");

    if (!prio)
        return;
    if (strcmp(prio, "Kritisch") == 0)
        m->critical = true;
    else if (strcmp(prio, "Normal") != 0) {
        fail(c, "manifest: field 'fw_priority' must be 'Normal' or 'Kritisch', not '%s'", prio);
        return;
    }
    if (!deadline) {
        fail(c, "manifest: field 'deadline' is missing (null for none)");
        return;
    }
    if (!json_is_null(deadline))
        date_field(c, "deadline", m->deadline);
}

static void features(struct ctx *c, struct bundle_manifest *m)
{
    json_t *arr = json_object_get(c->obj, "features");
    json_t *v;
    size_t i;

    if (c->failed)
        return;
    if (!json_is_array(arr)) {
        fail(c, "manifest: field 'features' %s", arr ? "is not an array" : "is missing");
        return;
    }
    if (json_array_size(arr) > BUNDLE_FEATURES_MAX) {
        fail(c, "manifest: more than %d features", BUNDLE_FEATURES_MAX);
        return;
    }
    m->features = calloc(json_array_size(arr) + 1, sizeof(*m->features));
    if (!m->features) {
        fail(c, "out of memory");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);

        if (!s || strlen(s) < 1 || strlen(s) > FEATURE_MAX || json_string_length(v) != strlen(s)) {
            fail(c, "manifest: features[%zu] is not a name of 1 to %d characters", i, FEATURE_MAX);
            return;
        }
        for (const char *p = s; *p; p++)
            if (!is_alnum_(*p) && *p != '-') {
                fail(c, "manifest: features[%zu] ('%s') may hold only A-Z, a-z, 0-9, _ and -", i,
                     s);
                return;
            }
        if (bundle_manifest_has_feature(m, s)) {
            fail(c, "manifest: feature '%s' is listed twice", s);
            return;
        }
        m->features[m->n_features] = strdup(s);
        if (!m->features[m->n_features]) {
            fail(c, "out of memory");
            return;
        }
        m->n_features++;
    }
}

static void payload(struct ctx *c, json_t *obj, size_t i, struct bundle_payload *p)
{
    struct ctx pc = {.obj = obj, .doc = "manifest", .err = c->err, .err_size = c->err_size};
    json_t *size = json_object_get(obj, "size");
    json_t *exec = json_object_get(obj, "executable");
    const char *path, *hex, *why = NULL;
    char where[48];

    (void)snprintf(where, sizeof(where), "manifest: payloads[%zu]", i);
    if (!json_is_object(obj)) {
        fail(c, "%s is not an object", where);
        return;
    }
    no_unknown_fields(&pc, obj, payload_fields, ARRAY_SIZE(payload_fields), where);
    path = str_field(&pc, "path", 1, BUNDLE_PATH_MAX);
    if (path && !bundle_path_is_safe(path, &why))
        fail(&pc, "%s: path '%s' is unsafe: %s", where, path, why);
    if (!pc.failed && !json_is_integer(size))
        fail(&pc, "%s: field 'size' %s", where, size ? "is not an integer" : "is missing");
    if (!pc.failed && (json_integer_value(size) < 0 ||
                       (uint64_t)json_integer_value(size) > BUNDLE_PAYLOAD_SIZE_MAX))
        fail(&pc, "%s: field 'size' is outside 0..2^40", where);
    hex = str_field(&pc, "sha256", 64, 64);
    if (hex && bundle__sha256_from_hex(hex, p->sha256) < 0)
        fail(&pc, "%s: field 'sha256' is not 64 lower-case hex digits", where);
    if (!pc.failed && !json_is_boolean(exec))
        fail(&pc, "%s: field 'executable' %s", where, exec ? "is not true or false" : "is missing");
    if (pc.failed) {
        c->failed = true;
        return;
    }
    p->size = (uint64_t)json_integer_value(size);
    p->executable = json_is_true(exec);
    p->path = strdup(path);
    if (!p->path)
        fail(c, "out of memory");
}

/* Is a a directory of b ("a" and "a/b")? */
static bool is_parent(const char *a, const char *b)
{
    size_t n = strlen(a);

    return strncmp(a, b, n) == 0 && b[n] == '/';
}

static void payloads(struct ctx *c, struct bundle_manifest *m)
{
    json_t *arr = json_object_get(c->obj, "payloads");
    json_t *v;
    size_t i;

    if (c->failed)
        return;
    if (!json_is_array(arr)) {
        fail(c, "manifest: field 'payloads' %s", arr ? "is not an array" : "is missing");
        return;
    }
    if (json_array_size(arr) > BUNDLE_PAYLOADS_MAX) {
        fail(c, "manifest: more than %d payloads", BUNDLE_PAYLOADS_MAX);
        return;
    }
    m->payloads = calloc(json_array_size(arr) + 1, sizeof(*m->payloads));
    if (!m->payloads) {
        fail(c, "out of memory");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        struct bundle_payload *p = &m->payloads[i];

        payload(c, v, i, p);
        if (c->failed)
            return;
        m->n_payloads++;
        /* Invariant 3; at most 999 payloads, so pairs are cheap. */
        for (size_t j = 0; j < i; j++) {
            const char *q = m->payloads[j].path;

            if (strcmp(q, p->path) == 0) {
                fail(c, "manifest: payload path '%s' is listed twice", p->path);
                return;
            }
            if (is_parent(q, p->path) || is_parent(p->path, q)) {
                fail(c, "manifest: payload '%s' would be a directory of '%s'",
                     is_parent(q, p->path) ? q : p->path, is_parent(q, p->path) ? p->path : q);
                return;
            }
        }
        m->total_size += p->size;
    }
}

int bundle_manifest_parse(const void *json, size_t len, struct bundle_manifest **ret_manifest,
                          char *err, size_t err_size)
{
    struct bundle_manifest *m = NULL;
    struct ctx c = {.doc = "manifest", .err = err, .err_size = err_size};
    int r = 0;

    c.obj = load(json, len, "manifest", err, err_size);
    if (!c.obj)
        return -EBADMSG;
    m = calloc(1, sizeof(*m));
    if (!m) {
        r = -ENOMEM;
        goto out;
    }
    no_unknown_fields(&c, c.obj, manifest_fields, ARRAY_SIZE(manifest_fields), "manifest");
    format_field(&c, &m->format);
    id_field(&c, "product_vendor_id", 5, m->product_vendor_id);
    id_field(&c, "product_code", 8, m->product_code);
    text_field(&c, "product_name", 1, 64, m->product_name);
    version_field(&c, "hw_version", m->hw_version);
    version_field(&c, "fw_version", m->fw_version);
    version_field(&c, "product_type_version", m->product_type_version);
    date_field(&c, "created", m->created);
    priority_and_deadline(&c, m);
    if (!c.failed)
        m->release_notes = notes_field(&c, "release_notes");
    features(&c, m);
    payloads(&c, m);
    if (c.failed) {
        r = -EBADMSG;
        goto out;
    }
    *ret_manifest = m;
    m = NULL;
out:
    bundle_manifest_free(m);
    json_decref(c.obj);
    return r;
}

/* ---- firmware groups --------------------------------------------------------------------- */

static const char *const group_fields[] = {
    "format",       "firmware_group_id", "product_vendor_id",
    "product_code", "hw_version",        "firmware_group_version",
    "created",      "release_notes",     "fw_versions",
};

struct bundle_fwgroup *bundle_fwgroup_free(struct bundle_fwgroup *g)
{
    if (!g)
        return NULL;
    free(g->fw_versions);
    free(g->release_notes);
    free(g);
    return NULL;
}

bool bundle_fwgroup_has_version(const struct bundle_fwgroup *g, const char *fw_version)
{
    for (size_t i = 0; i < g->n_fw_versions; i++)
        if (strcmp(g->fw_versions[i], fw_version) == 0)
            return true;
    return false;
}

static void fw_versions(struct ctx *c, struct bundle_fwgroup *g)
{
    json_t *arr = json_object_get(c->obj, "fw_versions");
    json_t *v;
    size_t i;

    if (c->failed)
        return;
    if (!json_is_array(arr)) {
        fail(c, "group: field 'fw_versions' %s", arr ? "is not an array" : "is missing");
        return;
    }
    if (json_array_size(arr) < 1 || json_array_size(arr) > BUNDLE_FW_VERSIONS_MAX) {
        fail(c, "group: field 'fw_versions' must list 1 to %d versions", BUNDLE_FW_VERSIONS_MAX);
        return;
    }
    g->fw_versions = calloc(json_array_size(arr), sizeof(*g->fw_versions));
    if (!g->fw_versions) {
        fail(c, "out of memory");
        return;
    }
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);

        if (!s || strlen(s) > 11 || json_string_length(v) != strlen(s) || !is_version(s)) {
            fail(c, "group: fw_versions[%zu] is not a version like 1.2.3", i);
            return;
        }
        if (bundle_fwgroup_has_version(g, s)) {
            fail(c, "group: version '%s' is listed twice", s);
            return;
        }
        memcpy(g->fw_versions[g->n_fw_versions++], s, strlen(s) + 1);
    }
}

int bundle_fwgroup_parse(const void *json, size_t len, struct bundle_fwgroup **ret_group, char *err,
                         size_t err_size)
{
    struct bundle_fwgroup *g = NULL;
    struct ctx c = {.doc = "group", .err = err, .err_size = err_size};
    const char *gv;
    int r = 0;

    c.obj = load(json, len, "group", err, err_size);
    if (!c.obj)
        return -EBADMSG;
    g = calloc(1, sizeof(*g));
    if (!g) {
        r = -ENOMEM;
        goto out;
    }
    no_unknown_fields(&c, c.obj, group_fields, ARRAY_SIZE(group_fields), "group");
    format_field(&c, &g->format);
    text_field(&c, "firmware_group_id", 1, 64, g->group_id);
    id_field(&c, "product_vendor_id", 5, g->product_vendor_id);
    id_field(&c, "product_code", 8, g->product_code);
    version_field(&c, "hw_version", g->hw_version);
    /* FirmwareGroupVersionType: a string of at most 5 characters. */
    gv = str_field(&c, "firmware_group_version", 1, 5);
    if (gv && !is_printable_ascii(gv))
        fail(&c, "group: field 'firmware_group_version' may hold only printable ASCII");
    else if (gv)
        memcpy(g->group_version, gv, strlen(gv) + 1);
    date_field(&c, "created", g->created);
    if (!c.failed)
        g->release_notes = notes_field(&c, "release_notes");
    fw_versions(&c, g);
    if (c.failed) {
        r = -EBADMSG;
        goto out;
    }
    *ret_group = g;
    g = NULL;
out:
    bundle_fwgroup_free(g);
    json_decref(c.obj);
    return r;
}

/* ---- product and firmware group of a verified manifest ----------------------------------- */

int bundle__manifest_check_target(const struct bundle_manifest *m,
                                  const struct bundle_verify_opts *opts, struct bundle_result *r)
{
    const struct bundle_fwgroup *g = opts->group;

    if (opts->product_vendor_id || opts->product_code || opts->hw_version) {
        /* A bundle for another product or hardware is outside this device's firmware group:
         * the group is defined per ProductVendorID, ProductCode and HWVersion. */
        if ((opts->product_vendor_id && strcmp(opts->product_vendor_id, m->product_vendor_id)) ||
            (opts->product_code && strcmp(opts->product_code, m->product_code)) ||
            (opts->hw_version && strcmp(opts->hw_version, m->hw_version)))
            return bundle__fail(r, BUNDLE_CODE_FIRMWARE_GROUP, BUNDLE_CHECK_PRODUCT,
                                "the bundle is for %s/%s hardware %s, this device is %s/%s "
                                "hardware %s",
                                m->product_vendor_id, m->product_code, m->hw_version,
                                opts->product_vendor_id ? opts->product_vendor_id : "*",
                                opts->product_code ? opts->product_code : "*",
                                opts->hw_version ? opts->hw_version : "*");
        bundle__pass(opts, BUNDLE_CHECK_PRODUCT, false, "%s/%s hardware %s", m->product_vendor_id,
                     m->product_code, m->hw_version);
    } else {
        bundle__pass(opts, BUNDLE_CHECK_PRODUCT, true, "no device identity given");
    }
    if (!g) {
        bundle__pass(opts, BUNDLE_CHECK_FIRMWARE_GROUP, true, "no firmware group given");
        return 0;
    }
    if (strcmp(g->product_vendor_id, m->product_vendor_id) ||
        strcmp(g->product_code, m->product_code) || strcmp(g->hw_version, m->hw_version))
        return bundle__fail(r, BUNDLE_CODE_FIRMWARE_GROUP, BUNDLE_CHECK_FIRMWARE_GROUP,
                            "group '%s' is for %s/%s hardware %s, the bundle for %s/%s "
                            "hardware %s",
                            g->group_id, g->product_vendor_id, g->product_code, g->hw_version,
                            m->product_vendor_id, m->product_code, m->hw_version);
    if (!bundle_fwgroup_has_version(g, m->fw_version))
        return bundle__fail(r, BUNDLE_CODE_FIRMWARE_GROUP, BUNDLE_CHECK_FIRMWARE_GROUP,
                            "firmware %s is not in group '%s' version %s (%zu allowed versions)",
                            m->fw_version, g->group_id, g->group_version, g->n_fw_versions);
    bundle__pass(opts, BUNDLE_CHECK_FIRMWARE_GROUP, false,
                 "firmware %s is in group '%s' version %s", m->fw_version, g->group_id,
                 g->group_version);
    return 0;
}
