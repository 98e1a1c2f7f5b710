/* history: DATA/fw/history.jsonl, what happened to the firmware, one JSON object a line.
 *
 * Invariants:
 *  1. A line is appended with one write(2) on an O_APPEND fd and fsynced before the call
 *     returns; a crash can leave only a torn last line, which readers skip.
 *  2. DATA/fw/ survives a factory reset (DESIGN.md section 8), and so does the history.
 *  3. Readers keep at most the newest `max` entries in memory. */
#include "update/update_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define HISTORY_FILE_MAX (16 * 1024 * 1024) /* bytes read at most; years of updates */

static void set_str(json_t *o, const char *key, const char *value)
{
    if (value)
        (void)json_object_set_new(o, key, json_string(value));
}

int upd_history_append(const char *data_dir, const struct upd_history_entry *e)
{
    char *fw = upd_fw_dir(data_dir);
    char *path = fw ? fs_path_join(fw, UPD__HISTORY_NAME) : NULL;
    char when[40];
    json_t *o = json_object();
    char *line = NULL;
    int64_t t = e->time_ms ? e->time_ms : clock_now_ms();
    int fd = -1, r = -ENOMEM;

    if (!path || !o)
        goto out;
    (void)json_object_set_new(o, "time", json_string(clock_format_iso(t, when, sizeof(when))));
    (void)json_object_set_new(o, "time_ms", json_integer(t));
    set_str(o, "action", e->action);
    set_str(o, "from_version", e->from_version);
    set_str(o, "to_version", e->to_version);
    set_str(o, "slot", e->slot);
    set_str(o, "result", e->result);
    if (e->code)
        (void)json_object_set_new(o, "code", json_integer(e->code));
    set_str(o, "message", e->message);
    line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (!line)
        goto out;
    r = fs_mkdir_p(fw, 0755);
    if (r < 0)
        goto out;
    fd = io_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = fd;
        goto out;
    }
    {
        size_t n = strlen(line);

        line[n] = '\n'; /* json_dumps leaves the NUL; the newline takes its place */
        /* O_APPEND: the offset is ignored, the line goes to the end in one write. */
        r = io_pwrite_all(fd, line, n + 1, 0);
        line[n] = '\0';
    }
    if (r == 0)
        r = io_fsync(fd);
out:
    if (fd >= 0)
        (void)io_close(fd);
    free(line);
    json_decref(o);
    free(path);
    free(fw);
    return r;
}

int upd_history_read(const char *data_dir, size_t max, char **ret_json)
{
    char *fw = upd_fw_dir(data_dir);
    char *path = fw ? fs_path_join(fw, UPD__HISTORY_NAME) : NULL;
    char *data = NULL, *text = NULL, *p;
    size_t len = 0;
    json_t *arr = json_array();
    int r = -ENOMEM;

    if (!path || !arr)
        goto out;
    r = fs_read_all(path, HISTORY_FILE_MAX, &data, &len);
    if (r == -ENOENT)
        r = 0;
    if (r < 0)
        goto out;
    for (p = data; p && *p;) {
        char *nl = strchr(p, '\n');
        json_t *o;

        if (!nl)
            break; /* invariant 1: a torn last line */
        o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        if (json_is_object(o)) {
            (void)json_array_append_new(arr, o);
            if (json_array_size(arr) > max)
                (void)json_array_remove(arr, 0);
        } else {
            json_decref(o);
        }
        p = nl + 1;
    }
    text = json_dumps(arr, JSON_COMPACT);
    r = text ? 0 : -ENOMEM;
    if (r == 0)
        *ret_json = text;
out:
    json_decref(arr);
    free(data);
    free(path);
    free(fw);
    return r;
}
