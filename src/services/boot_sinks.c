/* boot_sinks: the event sinks remembered across a restart, for BOOTUP/BOOTUP_COMPLETE.
 *
 * The subscription list starts empty at every boot (TIP1-A_4613), yet practice software
 * receives BOOTUP/BOOTUP_COMPLETE after a connector restart (gemILF_PS, digest section 2.1)
 * and then subscribes again. So every Subscribe remembers its EventTo and Mandant in
 * DATA/cetp-sinks.json; when BOOTUP/BOOTUP_COMPLETE is on the bus, that one event goes over
 * CETP to every remembered sink, and the list is cleared: a sink must subscribe again to be
 * remembered for the next restart. Nothing else is persisted; the subscriptions themselves
 * are not.
 *
 * The frame's SubscriptionID is "BOOTUP" (SERVICES_BOOT_SUB_ID): EventService.xsd allows any
 * string of at most 64 characters, and a fixed non-UUID value can never name a real
 * subscription, so a client that tries to renew or unsubscribe it gets 4000.
 *
 * File: {"version": 1, "sinks": [{"event_to": "cetp://host:port", "mandant": "m1"}, ...]},
 * oldest first, written atomically (mode 0600). A missing file is an empty list; a file that
 * does not parse is logged and treated as empty (it is rewritten at the next change).
 *
 * Invariants:
 *  1. At most SERVICES_BOOT_SINKS_MAX entries, one per sink ("host:port", compared as
 *     services__event_to_parse() normalises it); a new sink beyond the cap evicts the oldest.
 *  2. A sink is forgotten only when Unsubscribe removed its last subscription, or after the
 *     bootup delivery; expiry and EVT_MAX_TRY keep it.
 *  3. The bootup delivery skips sinks that have a subscription in this run: they subscribed
 *     after the restart (or get the event through that subscription) and stay remembered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "services/services_internal.h"

#define BOOT_SINKS_FILE "cetp-sinks.json"
#define BOOT_SINKS_VERSION 1
/* 1000 entries of at most 1024 + 64 characters, with JSON overhead: well below 4 MiB. */
#define BOOT_SINKS_FILE_MAX (4 * 1024 * 1024)

struct boot_sink {
    char sink[SERVICES_SINK_MAX + 1];
    char *event_to;
    char mandant_id[SOAP_CONTEXT_ID_MAX + 1];
};

struct services_boot_sinks {
    char *path; /* NULL: nothing is persisted (no data directory) */
    struct boot_sink v[SERVICES_BOOT_SINKS_MAX];
    size_t n;
};

static void remove_at(struct services_boot_sinks *bs, size_t i)
{
    free(bs->v[i].event_to);
    memmove(&bs->v[i], &bs->v[i + 1], (bs->n - i - 1) * sizeof(bs->v[0]));
    bs->n--;
}

static size_t index_of(const struct services_boot_sinks *bs, const char *sink)
{
    for (size_t i = 0; i < bs->n; i++)
        if (strcmp(bs->v[i].sink, sink) == 0)
            return i;
    return SIZE_MAX;
}

/* Appends (as the newest) or refreshes an entry. -EINVAL: no cetp:// URL; -ENOMEM. */
static int put(struct services_boot_sinks *bs, const char *event_to, const char *mandant_id)
{
    char sink[SERVICES_SINK_MAX + 1];
    char *copy;
    size_t i;

    if (services__event_to_parse(event_to, NULL, 0, NULL, sink, sizeof(sink)) < 0)
        return -EINVAL;
    copy = strdup(event_to);
    if (!copy)
        return -ENOMEM;
    i = index_of(bs, sink);
    if (i != SIZE_MAX)
        remove_at(bs, i);
    else if (bs->n == SERVICES_BOOT_SINKS_MAX)
        remove_at(bs, 0); /* invariant 1: the oldest goes */
    (void)str_copy(bs->v[bs->n].sink, sizeof(bs->v[0].sink), sink);
    bs->v[bs->n].event_to = copy;
    (void)str_copy(bs->v[bs->n].mandant_id, sizeof(bs->v[0].mandant_id),
                   mandant_id ? mandant_id : "");
    bs->n++;
    return 0;
}

static int save(const struct services_boot_sinks *bs)
{
    json_t *root = NULL, *arr = NULL;
    char *text = NULL;
    int r = -ENOMEM;

    if (!bs->path)
        return 0;
    arr = json_array();
    root = arr ? json_pack("{s:i, s:O}", "version", BOOT_SINKS_VERSION, "sinks", arr) : NULL;
    if (!root)
        goto out;
    for (size_t i = 0; i < bs->n; i++)
        if (json_array_append_new(arr, json_pack("{s:s, s:s}", "event_to", bs->v[i].event_to,
                                                 "mandant", bs->v[i].mandant_id)) < 0)
            goto out;
    text = json_dumps(root, JSON_INDENT(1));
    if (!text)
        goto out;
    r = fs_write_atomic(bs->path, text, strlen(text), 0600);
out:
    free(text);
    json_decref(root);
    json_decref(arr);
    return r;
}

static int load(struct services_boot_sinks *bs)
{
    char *data = NULL;
    size_t len = 0, i;
    json_t *root = NULL, *arr, *e;
    json_error_t err;
    int r;

    r = fs_read_all(bs->path, BOOT_SINKS_FILE_MAX, &data, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    arr = json_object_get(root, "sinks");
    r = -EBADMSG;
    if (!json_is_array(arr))
        goto out;
    json_array_foreach(arr, i, e)
    {
        const char *event_to = json_string_value(json_object_get(e, "event_to"));
        const char *mandant = json_string_value(json_object_get(e, "mandant"));

        /* A bad entry is skipped; the rest is still worth the event. */
        if (event_to && put(bs, event_to, mandant) == -ENOMEM) {
            r = -ENOMEM;
            goto out;
        }
    }
    r = 0;
out:
    json_decref(root);
    free(data);
    return r;
}

struct services_boot_sinks *services__boot_sinks_new(const char *data_dir)
{
    struct services_boot_sinks *bs = calloc(1, sizeof(*bs));
    int r;

    if (!bs)
        return NULL;
    if (!data_dir)
        return bs;
    bs->path = fs_path_join(data_dir, BOOT_SINKS_FILE);
    if (!bs->path)
        return services__boot_sinks_free(bs);
    r = load(bs);
    if (r == -ENOMEM)
        return services__boot_sinks_free(bs);
    if (r < 0)
        log_errno(LOG_LEVEL_WARNING, r,
                  "services: cannot read the remembered event sinks '%s', starting without them",
                  bs->path);
    return bs;
}

struct services_boot_sinks *services__boot_sinks_free(struct services_boot_sinks *bs)
{
    if (!bs)
        return NULL;
    for (size_t i = 0; i < bs->n; i++)
        free(bs->v[i].event_to);
    free(bs->path);
    free(bs);
    return NULL;
}

int services__boot_sinks_remember(struct services_boot_sinks *bs, const char *event_to,
                                  const char *mandant_id)
{
    size_t i;
    int r;

    if (services__event_to_parse(event_to, NULL, 0, NULL, NULL, 0) < 0)
        return -EINVAL;
    /* Nothing to write when the newest entry already is this sink of this Mandant. */
    if (bs->n > 0) {
        i = bs->n - 1;
        if (strcmp(bs->v[i].event_to, event_to) == 0 &&
            strcmp(bs->v[i].mandant_id, mandant_id ? mandant_id : "") == 0)
            return 0;
    }
    r = put(bs, event_to, mandant_id);
    return r < 0 ? r : save(bs);
}

int services__boot_sinks_forget(struct services_boot_sinks *bs, const struct services_subs *subs,
                                const char *sink)
{
    size_t i = index_of(bs, sink);

    if (i == SIZE_MAX || services__subs_has_sink(subs, sink))
        return 0;
    remove_at(bs, i);
    return save(bs);
}

int services__boot_sinks_deliver(struct services_boot_sinks *bs, struct services_cetp *cetp,
                                 const struct services_subs *subs, const struct evt_event *ev)
{
    size_t sent = 0;

    for (size_t i = 0; i < bs->n;) {
        if (services__subs_has_sink(subs, bs->v[i].sink)) {
            i++; /* invariant 3 */
            continue;
        }
        if (services__cetp_deliver_to(cetp, bs->v[i].event_to, ev, SERVICES_BOOT_SUB_ID) == 0)
            sent++;
        remove_at(bs, i);
    }
    if (sent)
        log_msg(LOG_LEVEL_INFO, "services: '%s' sent to %zu remembered event sink(s)", ev->topic,
                sent);
    return save(bs);
}

size_t services__boot_sinks_count(const struct services_boot_sinks *bs)
{
    return bs->n;
}
