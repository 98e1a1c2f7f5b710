/* world: the card terminals of the simulated world and the cards in their slots.
 *
 * Terminals come from the info model (one per card-terminal entity, store.h); the world adds
 * whether each is connected. Inserting a catalog card gives it a fresh handle and raises
 * CARD/INSERTED; removing it, disconnecting its terminal or deleting the terminal raises
 * CARD/REMOVED. Parameters are named as gemILF_PS names them: CardHandle, CardType,
 * CardVersion, ICCSN, CtID, SlotID, InsertTime (xs:dateTime, UTC), CardHolderName, KVNR (""
 * for cards other than the eGK); CT/CONNECTED and CT/DISCONNECTED carry CtID and CtName.
 *
 *               set_connected(false): remove its cards (CARD/REMOVED),
 *               CT/DISCONNECTED, raise EC_CardTerminal_Not_Available(ct) if active
 *   CONNECTED ------------------------------------------------------> DISCONNECTED
 *       ^  <-------------------------------------------------------------   |
 *       |     set_connected(true): CT/CONNECTED, clear the condition        |
 *   sync(): a new terminal of the info model appears connected; a deleted one takes its
 *   cards with it and its condition ends.
 *
 * Invariants:
 *  1. A card is in at most one slot; a slot holds at most one card; only connected terminals
 *     hold cards, and only in slots 1..slots.
 *  2. A handle is 32 random hex characters, new on every insertion and unique among the
 *     inserted cards; it dies with the insertion.
 *  3. EC_CardTerminal_Not_Available(ctId) is active exactly for active, disconnected
 *     terminals (TIP1-A_4537).
 *  4. cards_open() restores the world silently: no CARD/ or CT/ events (the bootup captures
 *     the transient state, TIP1-A_4525); only the condition of invariant 3 is raised again.
 *  5. Every change is saved to world.json at once; when saving fails the change stays in
 *     memory (the running world is authoritative) and a warning says it will not survive a
 *     restart.
 *  6. The demo cards go into ct1 at first start, or when ct1 first appears connected.
 *
 * cards_prepare() does the slow file work of a first start (PKI, demo cards) off the loop;
 * cards_open() then finds it done. */
#include "cards/cards_internal.h"

#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The info model announces its changes on this topic (mgmt). */
#define TOPIC_INFOMODEL_CHANGED "MGM/INFOMODEL_CHANGED"
/* Random bytes of a card handle (32 hex characters). */
#define HANDLE_BYTES 16

static void save(struct cards *c)
{
    int r = cards__world_save(c);

    if (r < 0)
        (void)log_errno(LOG_LEVEL_WARNING, r,
                        "cards: cannot save the world; the change is lost at restart");
}

static void publish(struct cards *c, const char *topic, const struct evt_param *params, size_t n)
{
    struct evt_event ev = {.topic = topic,
                           .type = EVT_TYPE_OPERATION,
                           .severity = EVT_SEVERITY_INFO,
                           .params = params,
                           .n_params = n};

    if (c->bus)
        (void)evt_bus_publish(c->bus, &ev);
}

static void publish_card(struct cards *c, const char *topic, const struct cards_card *card)
{
    char slot[16];
    char when[32];
    const struct evt_param params[] = {
        {"CardHandle", card->handle},
        {"CardType", cards_type_to_string(card->type)},
        {"CardVersion", card->card_version},
        {"ICCSN", card->iccsn},
        {"CtID", card->ct_id},
        {"SlotID", slot},
        {"InsertTime", when},
        {"CardHolderName", card->holder_name},
        {"KVNR", card->kvnr},
    };

    (void)snprintf(slot, sizeof(slot), "%u", card->slot);
    (void)clock_format_iso(card->insert_time_ms, when, sizeof(when));
    publish(c, topic, params, ARRAY_SIZE(params));
}

static void publish_ct(struct cards *c, const char *topic, const struct cards_terminal *t)
{
    const struct evt_param params[] = {{"CtID", t->id}, {"CtName", t->name}};

    publish(c, topic, params, ARRAY_SIZE(params));
}

/* Invariant 3. */
static void condition_update(struct cards *c, const struct cards_terminal *t)
{
    if (!c->ecs)
        return;
    if (t->active && !t->connected)
        (void)ec_raise(c->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, t->id, NULL, 0);
    else
        (void)ec_clear(c->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, t->id);
}

static struct cards_terminal *terminal_find(const struct cards *c, const char *ct_id)
{
    for (size_t i = 0; ct_id && i < c->n_terms; i++)
        if (strcmp(c->terms[i].id, ct_id) == 0)
            return &c->terms[i];
    return NULL;
}

static int handle_make(const struct cards *c, char *buf, size_t size)
{
    unsigned char raw[HANDLE_BYTES];

    if (size < 2 * HANDLE_BYTES + 1)
        return -EINVAL;
    do {
        if (rand_bytes(raw, sizeof(raw)) < 0)
            return -EIO;
        hex_encode(raw, sizeof(raw), buf);
    } while (cards_card_by_handle(c, buf)); /* invariant 2; practically never loops */
    return 0;
}

static int insert(struct cards *c, const struct cards_terminal *t, unsigned slot,
                  struct cards__entry *e, bool events)
{
    struct cards_card *card = &e->card;
    int r;

    r = handle_make(c, card->handle, sizeof(card->handle));
    if (r < 0)
        return r;
    (void)str_copy(card->ct_id, sizeof(card->ct_id), t->id);
    card->slot = slot;
    card->insert_time_ms = clock_now_ms();
    log_msg(LOG_LEVEL_DEBUG, "cards: '%s' (%s) inserted into %s slot %u", card->name,
            cards_type_to_string(card->type), t->id, slot);
    if (events)
        publish_card(c, "CARD/INSERTED", card);
    return 0;
}

static void eject(struct cards *c, struct cards__entry *e, bool events)
{
    struct cards_card *card = &e->card;

    log_msg(LOG_LEVEL_DEBUG, "cards: '%s' removed from %s slot %u", card->name, card->ct_id,
            card->slot);
    cards__pins_card_removed(c, card); /* pin.h: waits and sessions end (TIP1-A_4539) */
    if (events)
        publish_card(c, "CARD/REMOVED", card);
    card->ct_id[0] = '\0';
    card->handle[0] = '\0';
    card->slot = 0;
    card->insert_time_ms = 0;
}

/* Removes the cards that may not stay in t (invariant 1); t NULL: in a terminal id that no
 * longer exists. */
static void eject_invalid(struct cards *c, bool events)
{
    for (size_t i = 0; i < c->n_cat; i++) {
        struct cards__entry *e = &c->cat[i];
        const struct cards_terminal *t = terminal_find(c, e->card.ct_id);

        if (e->card.ct_id[0] &&
            (!t || !t->connected || e->card.slot < 1 || e->card.slot > t->slots))
            eject(c, e, events);
    }
}

/* Invariant 6. */
static void demo_insert(struct cards *c, bool events)
{
    if (!c->demo_pending)
        return;
    for (size_t i = 0; i < cards__demo_count(); i++) {
        const struct cards_terminal *t = terminal_find(c, cards__demo_at(i)->ct_id);

        if (!t || !t->connected)
            return;
    }
    for (size_t i = 0; i < cards__demo_count(); i++) {
        const struct cards__demo *d = cards__demo_at(i);
        const struct cards_terminal *t = terminal_find(c, d->ct_id);
        struct cards__entry *e = cards__catalog_find(c, d->name);

        if (e && !e->card.ct_id[0] && d->slot <= t->slots &&
            !cards_card_in_slot(c, d->ct_id, d->slot))
            (void)insert(c, t, d->slot, e, events);
    }
    c->demo_pending = false;
}

/* ---- terminals from the info model ------------------------------------------------------ */

struct collect {
    struct store *store;
    struct cards_terminal *terms;
    size_t n, cap;
    int r;
};

static void collect_one(const char *id, void *arg)
{
    struct collect *col = arg;
    struct store_ct ct;

    if (col->r < 0 || store_ct_get(col->store, id, &ct) < 0)
        return;
    if (col->n == col->cap) {
        size_t cap = col->cap ? 2 * col->cap : 8;
        struct cards_terminal *terms = realloc(col->terms, cap * sizeof(*terms));

        if (!terms) {
            col->r = -ENOMEM;
            return;
        }
        col->terms = terms;
        col->cap = cap;
    }
    col->terms[col->n] = (struct cards_terminal){.slots = ct.slots, .active = ct.active};
    (void)str_copy(col->terms[col->n].id, sizeof(col->terms[col->n].id), ct.id);
    (void)str_copy(col->terms[col->n].name, sizeof(col->terms[col->n].name),
                   ct.name[0] ? ct.name : ct.id);
    col->n++;
}

/* Brings the terminals in line with the info model. events: publish CT/ and CARD/ events
 * (false only while cards_open() restores the world, invariant 4). */
static int sync(struct cards *c, bool events)
{
    struct collect col = {.store = c->store};
    struct cards_terminal *old = c->terms;
    size_t n_old = c->n_terms;
    int r;

    r = store_entity_foreach(c->store, STORE_ENTITY_CARD_TERMINAL, collect_one, &col);
    if (r == 0)
        r = col.r;
    if (r < 0) {
        free(col.terms);
        return r;
    }
    /* Keep the connection state of known terminals; new ones appear connected. */
    for (size_t i = 0; i < col.n; i++) {
        const struct cards_terminal *prev = terminal_find(c, col.terms[i].id);

        col.terms[i].connected = prev ? prev->connected : true;
        if (prev) /* what its display shows outlives a change of the info model */
            memcpy(col.terms[i].display, prev->display, sizeof(prev->display));
    }
    c->terms = col.terms;
    c->n_terms = col.n;
    /* Deleted terminals take their cards with them; their condition ends. */
    eject_invalid(c, events);
    for (size_t i = 0; i < n_old; i++) {
        if (terminal_find(c, old[i].id))
            continue;
        if (events && old[i].connected)
            publish_ct(c, "CT/DISCONNECTED", &old[i]);
        if (c->ecs)
            (void)ec_clear(c->ecs, EC_CARDTERMINAL_NOT_AVAILABLE, old[i].id);
    }
    for (size_t i = 0; i < c->n_terms; i++) {
        bool known = false;

        for (size_t j = 0; j < n_old && !known; j++)
            known = strcmp(old[j].id, c->terms[i].id) == 0;
        if (events && !known)
            publish_ct(c, "CT/CONNECTED", &c->terms[i]);
        condition_update(c, &c->terms[i]);
    }
    free(old);
    demo_insert(c, events);
    return 0;
}

int cards_sync_terminals(struct cards *c)
{
    int r = sync(c, true);

    if (r == 0)
        save(c);
    return r;
}

static void on_infomodel_changed(const struct evt_event *ev, void *arg)
{
    struct cards *c = arg;
    int r = cards_sync_terminals(c);

    if (r < 0)
        (void)log_errno(LOG_LEVEL_WARNING, r,
                        "cards: cannot read the card terminals of the info model, keeping the "
                        "old list");
}

size_t cards_terminal_count(const struct cards *c)
{
    return c->n_terms;
}

const struct cards_terminal *cards_terminal_at(const struct cards *c, size_t i)
{
    return i < c->n_terms ? &c->terms[i] : NULL;
}

const struct cards_terminal *cards_terminal_find(const struct cards *c, const char *ct_id)
{
    return terminal_find(c, ct_id);
}

/* ---- insert, remove, connect ------------------------------------------------------------ */

int cards_insert(struct cards *c, const char *ct_id, unsigned slot, const char *card_name)
{
    const struct cards_terminal *t = terminal_find(c, ct_id);
    struct cards__entry *e = cards__catalog_find(c, card_name);
    int r;

    if (!t || !e)
        return -ENOENT;
    if (!t->connected)
        return -ENOTCONN;
    if (slot < 1 || slot > t->slots)
        return -ERANGE;
    if (cards_card_in_slot(c, ct_id, slot) || e->card.ct_id[0])
        return -EBUSY;
    r = insert(c, t, slot, e, true);
    if (r == 0)
        save(c);
    return r;
}

int cards_remove(struct cards *c, const char *ct_id, unsigned slot)
{
    const struct cards_card *card = cards_card_in_slot(c, ct_id, slot);

    if (!card)
        return -ENOENT;
    eject(c, cards__catalog_find(c, card->name), true);
    save(c);
    return 0;
}

int cards_terminal_set_connected(struct cards *c, const char *ct_id, bool connected)
{
    struct cards_terminal *t = terminal_find(c, ct_id);

    if (!t)
        return -ENOENT;
    if (t->connected == connected)
        return 0;
    t->connected = connected;
    log_msg(LOG_LEVEL_DEBUG, "cards: terminal %s %s", t->id,
            connected ? "connected" : "disconnected");
    if (!connected)
        eject_invalid(c, true); /* TIP1-A_4537: its cards and handles go first */
    publish_ct(c, connected ? "CT/CONNECTED" : "CT/DISCONNECTED", t);
    condition_update(c, t);
    demo_insert(c, true);
    save(c);
    return 0;
}

int cards_save(struct cards *c)
{
    return cards__world_save(c);
}

/* ---- open and close --------------------------------------------------------------------- */

/* A damaged world.json is set aside as world.json.damaged (replacing an older one). */
static void set_aside(struct cards *c)
{
    char *aside = NULL;

    if (asprintf(&aside, "%s.damaged", c->world_file) < 0)
        return;
    if (rename(c->world_file, aside) == 0)
        log_msg(LOG_LEVEL_WARNING,
                "cards: '%s' is damaged; set aside as '%s', starting a fresh world", c->world_file,
                aside);
    free(aside);
    for (size_t i = 0; i < c->n_cat; i++)
        cards__entry_done(&c->cat[i]);
    c->n_cat = 0;
    free(c->terms);
    c->terms = NULL;
    c->n_terms = 0;
}

static struct cards *world_new(const char *data_dir)
{
    struct cards *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->world_dir = fs_path_join(data_dir, "world");
    c->cards_dir = c->world_dir ? fs_path_join(c->world_dir, "cards") : NULL;
    c->world_file = c->world_dir ? fs_path_join(c->world_dir, "world.json") : NULL;
    if (!c->world_dir || !c->cards_dir || !c->world_file)
        return cards_close(c);
    return c;
}

/* The file side of opening: the PKI (generated at first start) and the catalog from
 * world.json, or the demo cards when there is none (invariant 6). */
/* A world made by an older version: its demo cards get the certificates added since (every
 * key reference of ReadCardCertificate, issue #5). A failure leaves the card as it was. */
static void demo_top_up(struct cards *c)
{
    for (size_t i = 0; i < cards__demo_count(); i++) {
        const struct cards__demo *d = cards__demo_at(i);
        struct cards__entry *e = cards__catalog_find(c, d->name);
        char *dir = NULL;
        int r;

        if (!e || e->imported || e->card.type != d->type || strcmp(e->card.iccsn, d->iccsn) != 0)
            continue;
        r = cards__card_dir(c, d->name, false, &dir);
        if (r == 0)
            r = cards__profile_top_up_demo(c->pki, d, dir, e);
        free(dir);
        if (r < 0)
            (void)log_errno(LOG_LEVEL_WARNING, r, "cards: cannot add the new certificates of '%s'",
                            d->name);
        else if (r > 0)
            log_msg(LOG_LEVEL_INFO, "cards: added %d certificate(s) to demo card '%s'", r, d->name);
    }
}

static int world_ready(struct cards *c)
{
    int r = fs_mkdir_p(c->cards_dir, 0700);

    if (r == 0)
        r = cards__pki_open(c->world_dir, &c->pki);
    if (r < 0)
        return r; /* a damaged PKI is the caller's to decide (cards.h) */
    r = cards__world_load(c);
    if (r == -EBADMSG) {
        set_aside(c);
        r = -ENOENT;
    }
    if (r == -ENOENT) {
        r = cards__catalog_create_demo(c);
        c->demo_pending = true;
    } else if (r == 0) {
        demo_top_up(c);
    }
    return r;
}

int cards_prepare(const char *data_dir)
{
    struct cards *c = data_dir ? world_new(data_dir) : NULL;
    int r;

    if (!c)
        return data_dir ? -ENOMEM : -EINVAL;
    /* Touches files only (no store, bus or conditions): safe off the loop. */
    r = fs_exists(c->world_file) ? 0 : world_ready(c);
    if (r == 0 && c->demo_pending)
        r = cards__world_save(c);
    if (r < 0)
        (void)log_errno(LOG_LEVEL_ERROR, r, "cards: cannot prepare the simulated world");
    cards_close(c);
    return r;
}

int cards_open(const struct cards_deps *deps, struct cards **ret_cards)
{
    struct cards *c = NULL;
    int r;

    if (!deps->store || !deps->data_dir)
        return -EINVAL;
    c = world_new(deps->data_dir);
    if (!c)
        return -ENOMEM;
    c->store = deps->store;
    c->ecs = deps->ecs;
    c->bus = deps->bus;
    r = world_ready(c);
    if (r == 0)
        r = sync(c, false); /* invariant 4 */
    if (r == 0 && c->bus)
        r = evt_bus_subscribe(c->bus, TOPIC_INFOMODEL_CHANGED, on_infomodel_changed, c, &c->sub_id);
    if (r < 0)
        goto out;
    c->subscribed = c->bus != NULL;
    r = cards__world_save(c);
    if (r < 0)
        goto out;
    log_msg(LOG_LEVEL_INFO, "cards: world open: %zu cards, %zu terminals", c->n_cat, c->n_terms);
    *ret_cards = c;
    c = NULL;
out:
    if (r < 0)
        (void)log_errno(LOG_LEVEL_ERROR, r, "cards: cannot open the simulated world");
    cards_close(c);
    return r;
}

struct cards *cards_close(struct cards *c)
{
    if (!c)
        return NULL;
    if (c->subscribed)
        (void)evt_bus_unsubscribe(c->bus, c->sub_id);
    cards__pins_done(c);
    for (size_t i = 0; i < c->n_cat; i++)
        cards__entry_done(&c->cat[i]);
    free(c->cat);
    free(c->terms);
    cards__pki_free(c->pki);
    cards__trust_free(c->trust);
    cards__import_done(c);
    free(c->world_file);
    free(c->cards_dir);
    free(c->world_dir);
    free(c);
    return NULL;
}
