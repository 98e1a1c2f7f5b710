/* Helpers shared by the cards unit tests.
 *
 * Generating the test PKI and the demo cards costs about a dozen key generations, so each
 * test program makes one template world once (world_template_make, from its group setup) and
 * every test starts from a copy of it (world_make): the PKI is generated once and reused.
 * Each world has its own config.db with card terminal ct1 (4 slots, active), a bus that
 * records the CARD/, CT/ and OPERATIONAL_STATE/ events, and the condition set. */
#ifndef KONN_CARDS_TEST_H
#define KONN_CARDS_TEST_H

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "../test_tmp.h"
#include "cards/cards_internal.h"

#define SEEN_MAX 64

struct seen_event {
    char topic[128];
    size_t n_params;
    char keys[EVT_PARAMS_MAX][EVT_PARAM_KEY_MAX + 1];
    char values[EVT_PARAMS_MAX][256];
};

struct seen {
    struct seen_event ev[SEEN_MAX];
    int n;
};

struct world {
    char dir[64];
    struct store *store;
    struct evt_bus *bus;
    struct ec_state *ecs;
    struct cards *cards;
    struct seen seen;
};

static inline void seen_record(const struct evt_event *ev, void *arg)
{
    struct seen *s = arg;
    struct seen_event *e;

    if (s->n >= SEEN_MAX)
        return;
    e = &s->ev[s->n++];
    (void)str_copy(e->topic, sizeof(e->topic), ev->topic);
    e->n_params = ev->n_params;
    for (size_t i = 0; i < ev->n_params; i++) {
        (void)str_copy(e->keys[i], sizeof(e->keys[i]), ev->params[i].key);
        (void)str_copy(e->values[i], sizeof(e->values[i]), ev->params[i].value);
    }
}

static inline const char *seen_param(const struct seen_event *e, const char *key)
{
    for (size_t i = 0; i < e->n_params; i++)
        if (strcmp(e->keys[i], key) == 0)
            return e->values[i];
    return NULL;
}

/* How many recorded events have this topic. */
static inline int seen_count(const struct seen *s, const char *topic)
{
    int n = 0;

    for (int i = 0; i < s->n; i++)
        n += strcmp(s->ev[i].topic, topic) == 0;
    return n;
}

/* The last recorded event with this topic, or NULL. */
static inline const struct seen_event *seen_last(const struct seen *s, const char *topic)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (strcmp(s->ev[i].topic, topic) == 0)
            return &s->ev[i];
    return NULL;
}

static inline void dir_remove_all(const char *dir)
{
    test_tmp_remove(dir);
}

/* Copies one file, keeping its mode; no fsync (a test's copy need not be durable). */
static inline int file_copy(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    char buf[8192];
    size_t n;
    int r = in && out ? 0 : -EIO;

    while (r == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            r = -EIO;
    if (in)
        (void)fclose(in);
    if (out && fclose(out) != 0)
        r = -EIO;
    if (r == 0 && chmod(to, mode) < 0)
        r = -errno;
    return r;
}

/* Copies the tree from into to (regular files keep their mode). */
static inline int dir_copy(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *ent;
    int r = 0;

    if (!d)
        return -errno;
    (void)mkdir(to, 0700);
    while (r == 0 && (ent = readdir(d))) {
        char src[512], dst[512];
        struct stat sb;

        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        (void)snprintf(src, sizeof(src), "%s/%s", from, ent->d_name);
        (void)snprintf(dst, sizeof(dst), "%s/%s", to, ent->d_name);
        if (stat(src, &sb) < 0) {
            r = -errno;
        } else if (S_ISDIR(sb.st_mode)) {
            r = dir_copy(src, dst);
        } else {
            r = file_copy(src, dst, sb.st_mode & 0777);
        }
    }
    (void)closedir(d);
    return r;
}

/* A store in dir/config.db with terminal ct1 (4 slots, active). */
static inline int world_store_open(struct world *w)
{
    char path[128];
    int r;

    (void)snprintf(path, sizeof(path), "%s/config.db", w->dir);
    r = store_open(path, &w->store);
    if (r == 0)
        r = store_entity_add(w->store, STORE_ENTITY_CARD_TERMINAL, "ct1");
    return r;
}

/* Bus, conditions, and the cards of dir (the store stays as it is). */
static inline int world_cards_open(struct world *w)
{
    struct cards_deps deps = {.store = w->store, .ecs = w->ecs, .bus = w->bus, .data_dir = w->dir};

    return cards_open(&deps, &w->cards);
}

static inline int world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    (void)snprintf(w->dir, sizeof(w->dir), "/tmp/konn-cards-XXXXXX");
    if (!mkdtemp(w->dir))
        return -errno;
    w->bus = evt_bus_new(0);
    w->ecs = w->bus ? ec_state_new(w->bus) : NULL;
    if (!w->ecs)
        return -ENOMEM;
    (void)evt_bus_subscribe(w->bus, "CARD/", seen_record, &w->seen, NULL);
    (void)evt_bus_subscribe(w->bus, "CT/", seen_record, &w->seen, NULL);
    (void)evt_bus_subscribe(w->bus, "OPERATIONAL_STATE/", seen_record, &w->seen, NULL);
    return world_store_open(w);
}

static inline void world_done(struct world *w)
{
    w->cards = cards_close(w->cards);
    w->store = store_close(w->store);
    w->ecs = ec_state_free(w->ecs);
    w->bus = evt_bus_free(w->bus);
    if (w->dir[0])
        dir_remove_all(w->dir);
    w->dir[0] = '\0';
}

/* The template: a first start (PKI and demo cards generated) in a directory of its own. */
static inline int world_template_make(struct world *tpl)
{
    int r = world_init(tpl);

    if (r == 0)
        r = world_cards_open(tpl);
    tpl->cards = cards_close(tpl->cards);
    return r;
}

/* A new world from the template's world/ directory, opened. */
static inline int world_make(const struct world *tpl, struct world *w)
{
    char from[128], to[128];
    int r = world_init(w);

    (void)snprintf(from, sizeof(from), "%s/world", tpl->dir);
    (void)snprintf(to, sizeof(to), "%s/world", w->dir);
    if (r == 0)
        r = dir_copy(from, to);
    if (r == 0)
        r = world_cards_open(w);
    return r;
}

/* The cmocka fixtures most cards tests share: one template world per program (group
 * setup), a fresh copy of it per test (setup), passed as *state. */
static struct world tpl;

static inline int world_group_setup(void **state)
{
    (void)state;
    return world_template_make(&tpl);
}

static inline int world_group_teardown(void **state)
{
    (void)state;
    world_done(&tpl);
    return 0;
}

static inline int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));

    if (!w || world_make(&tpl, w) < 0) {
        free(w);
        return -1;
    }
    *state = w;
    return 0;
}

static inline int world_teardown(void **state)
{
    struct world *w = *state;

    world_done(w);
    free(w);
    return 0;
}

#endif
