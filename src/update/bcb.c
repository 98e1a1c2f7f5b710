/* bcb: the boot control block DATA/fw/boot.json, the one small file the launcher decides by.
 *
 * Invariants:
 *  1. A load reads the old or the new block, never a mix: a save writes boot.json.tmp, fsyncs
 *     it, renames it over boot.json and fsyncs the directory (every step through base's I/O
 *     seam, so tests fail each in turn).
 *  2. A block that cannot be read (missing, torn, garbage, unknown slot) never stops a boot:
 *     the default (slot a, UPD_TRIES tries) is used and a syslog line says so.
 *  3. Unknown fields are ignored (a later version may add some); known ones must be typed. */
#include "update/update_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#define BCB_MAX (64 * 1024) /* bytes; a block is a few hundred */

static const char *const slot_names[UPD_SLOT_MAX] = {"a", "b"};

const char *upd_slot_to_string(enum upd_slot slot)
{
    return slot < UPD_SLOT_MAX ? slot_names[slot] : "?";
}

int upd_slot_from_string(const char *s, enum upd_slot *ret_slot)
{
    for (size_t i = 0; s && i < UPD_SLOT_MAX; i++) {
        if (strcmp(s, slot_names[i]) == 0) {
            *ret_slot = (enum upd_slot)i;
            return 0;
        }
    }
    return -EINVAL;
}

void upd_bcb_default(struct upd_bcb *ret_bcb)
{
    *ret_bcb = (struct upd_bcb){.active = UPD_SLOT_A, .tries_left = UPD_TRIES};
}

static int get_str(json_t *o, const char *key, char *dst, size_t size, bool required)
{
    json_t *v = json_object_get(o, key);

    if (!v)
        return required ? -EBADMSG : 0;
    if (!json_is_string(v) || str_copy(dst, size, json_string_value(v)) < 0)
        return -EBADMSG;
    return 0;
}

static int get_slot(json_t *o, const char *key, enum upd_slot *ret)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        return -EBADMSG;
    return upd_slot_from_string(json_string_value(v), ret) < 0 ? -EBADMSG : 0;
}

static int get_bool(json_t *o, const char *key, bool *ret)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_boolean(v))
        return -EBADMSG;
    *ret = json_is_true(v);
    return 0;
}

static int parse_sections(json_t *root, struct upd_bcb *b)
{
    json_t *tries = json_object_get(root, "tries_left");
    json_t *upd = json_object_get(root, "update");
    json_t *fb = json_object_get(root, "fallback");

    if (get_slot(root, "active", &b->active) < 0 || !json_is_integer(tries) ||
        json_integer_value(tries) < 0 || json_integer_value(tries) > UPD_TRIES ||
        get_bool(root, "good", &b->good) < 0 ||
        get_str(root, "last_failure", b->last_failure, sizeof(b->last_failure), false) < 0)
        return -EBADMSG;
    b->tries_left = (int)json_integer_value(tries);
    if (json_is_object(upd)) {
        b->update_pending = true;
        if (get_slot(upd, "from_slot", &b->update_from_slot) < 0 ||
            get_str(upd, "from_version", b->update_from_version, UPD_VERSION_MAX, true) < 0 ||
            get_str(upd, "to_version", b->update_to_version, UPD_VERSION_MAX, true) < 0)
            return -EBADMSG;
    } else if (upd && !json_is_null(upd)) {
        return -EBADMSG;
    }
    if (json_is_object(fb)) {
        json_t *t = json_object_get(fb, "time_ms");

        b->fallback = true;
        if (get_slot(fb, "from_slot", &b->fallback_from_slot) < 0 ||
            get_str(fb, "from_version", b->fallback_from_version, UPD_VERSION_MAX, true) < 0 ||
            get_str(fb, "reason", b->fallback_reason, UPD_REASON_MAX, true) < 0 ||
            !json_is_integer(t) || get_bool(fb, "reported", &b->fallback_reported) < 0)
            return -EBADMSG;
        b->fallback_time_ms = json_integer_value(t);
    } else if (fb && !json_is_null(fb)) {
        return -EBADMSG;
    }
    return 0;
}

int upd_bcb_parse(const char *json, size_t len, struct upd_bcb *ret_bcb)
{
    struct upd_bcb b;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    int r = -EBADMSG;

    upd_bcb_default(&b);
    if (json_is_object(root) && json_integer_value(json_object_get(root, "format")) == 1)
        r = parse_sections(root, &b);
    json_decref(root);
    if (r == 0)
        *ret_bcb = b;
    return r;
}

int upd_bcb_format(const struct upd_bcb *b, char **ret_json)
{
    json_t *root =
        json_pack("{s:i,s:s,s:i,s:b,s:s}", "format", 1, "active", upd_slot_to_string(b->active),
                  "tries_left", b->tries_left, "good", b->good, "last_failure", b->last_failure);
    json_t *upd = NULL, *fb = NULL;
    char *text = NULL;

    if (root && b->update_pending)
        upd = json_pack("{s:s,s:s,s:s}", "from_slot", upd_slot_to_string(b->update_from_slot),
                        "from_version", b->update_from_version, "to_version", b->update_to_version);
    if (root && b->fallback)
        fb = json_pack("{s:s,s:s,s:s,s:I,s:b}", "from_slot",
                       upd_slot_to_string(b->fallback_from_slot), "from_version",
                       b->fallback_from_version, "reason", b->fallback_reason, "time_ms",
                       (json_int_t)b->fallback_time_ms, "reported", b->fallback_reported);
    if (root && json_object_set_new(root, "update", upd ? upd : json_null()) == 0 &&
        json_object_set_new(root, "fallback", fb ? fb : json_null()) == 0)
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return -ENOMEM;
    *ret_json = text;
    return 0;
}

int upd_bcb_load(const char *fw_dir, struct upd_bcb *ret_bcb)
{
    char *path = fs_path_join(fw_dir, UPD__BCB_NAME);
    char *data = NULL;
    size_t len = 0;
    int r = path ? fs_read_all(path, BCB_MAX, &data, &len) : -ENOMEM;

    if (r == 0)
        r = upd_bcb_parse(data, len, ret_bcb);
    if (r < 0) {
        /* Invariant 2: the default boots; a missing block is the normal first start. */
        if (r != -ENOENT)
            log_errno(LOG_LEVEL_WARNING, r,
                      "update: the boot control block '%s' cannot be read, starting slot a",
                      path ? path : fw_dir);
        upd_bcb_default(ret_bcb);
        r = 1;
    }
    free(data);
    free(path);
    return r;
}

int upd_bcb_save(const char *fw_dir, const struct upd_bcb *bcb)
{
    char *path = fs_path_join(fw_dir, UPD__BCB_NAME);
    char *tmp = NULL, *json = NULL;
    int fd = -1, r;

    if (!path || asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        r = -ENOMEM;
        goto out;
    }
    r = upd_bcb_format(bcb, &json);
    if (r < 0)
        goto out;
    fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    r = io_pwrite_all(fd, json, strlen(json), 0);
    if (r == 0)
        r = io_fsync(fd);
    (void)io_close(fd);
    if (r == 0)
        r = io_rename(tmp, path);
    if (r == 0)
        r = io_fsync_dir(fw_dir);
out:
    if (r < 0 && tmp)
        (void)unlink(tmp);
    free(json);
    free(tmp);
    free(path);
    return r;
}
