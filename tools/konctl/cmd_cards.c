/* cmd_cards: the simulated card terminals and cards of the control API (/control/v1/cards,
 * /control/v1/terminals): the catalog and where each card is, inserting and removing cards,
 * importing a gematik test identity (PKCS#12), and connecting or disconnecting a terminal.
 * Like the clock and the VPN these exist for tests and demonstrations.
 *
 * Invariants:
 *  1. konctl checks only the form of what it sends (a slot is a number, the file is
 *     readable and small enough); the daemon judges terminals, slots and cards and names the
 *     problem (exit 7 unknown, 8 slot taken or terminal disconnected, 5 refused).
 *  2. What is printed comes from the daemon's answer, not from the request.
 *  3. The PKCS#12 file goes to the daemon base64-encoded; konctl never parses it, and wipes
 *     its copies once the request is made (it holds a private key). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

/* Largest PKCS#12 file sent, in bytes: base64 grows it by a third, and the daemon takes
 * request bodies up to 64 KiB. gematik's test identities have 3 to 5 KiB. */
#define P12_FILE_MAX (46 * 1024)
/* Slots a terminal may have (the info model's limit). */
#define SLOT_MAX 16

static const char card_usage[] =
    "Usage: konctl card list\n"
    "       konctl card insert --ct CT --slot N CARD\n"
    "       konctl card remove --ct CT --slot N\n"
    "       konctl card import FILE.p12 --name NAME [--password P]\n"
    "\n"
    "list     the catalog: each card's name, type, ICCSN, where it is (CT/SLOT) and its\n"
    "         card handle (the default)\n"
    "insert   put catalog card CARD into slot N of terminal CT; the connector raises\n"
    "         CARD/INSERTED with a new card handle\n"
    "remove   take the card out of slot N of terminal CT (CARD/REMOVED)\n"
    "import   add a gematik test identity (PKCS#12, at most 46 KiB) to the catalog as card\n"
    "         NAME; its type (eGK, HBA, SMC-B) comes from the certificate's profile.\n"
    "         --password defaults to 00, the password of gematik's test identities\n";

static const char terminal_usage[] =
    "Usage: konctl terminal list\n"
    "       konctl terminal show ID\n"
    "       konctl terminal connect ID\n"
    "       konctl terminal disconnect ID\n"
    "\n"
    "list        the card terminals of the info model: slots, connected, active, and the\n"
    "            cards in their slots (the default)\n"
    "show        one terminal, with the text its display shows (a waiting RequestCard's)\n"
    "connect     connect terminal ID again (CT/CONNECTED)\n"
    "disconnect  cut terminal ID off: its cards are removed (CARD/REMOVED), CT/DISCONNECTED\n"
    "            follows, and an active terminal raises EC_CardTerminal_Not_Available(ID)\n";

/* "ct1/2" for a card's "where", "-" when it is in no slot. */
static void where_text(const json_t *where, char *buf, size_t size)
{
    const json_t *ct = json_object_get(where, "ct");
    const json_t *slot = json_object_get(where, "slot");

    if (json_is_string(ct) && json_is_integer(slot))
        (void)snprintf(buf, size, "%s/%" JSON_INTEGER_FORMAT, json_string_value(ct),
                       json_integer_value(slot));
    else
        (void)snprintf(buf, size, "-");
}

static void card_row(struct out_table *t, const json_t *card)
{
    char where[96];

    where_text(json_object_get(card, "where"), where, sizeof(where));
    out_table_add_json(t, json_object_get(card, "name"));
    out_table_add_json(t, json_object_get(card, "type"));
    out_table_add_json(t, json_object_get(card, "iccsn"));
    out_table_add(t, where);
    out_table_add_json(t, json_object_get(card, "handle"));
}

static int card_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"NAME", "TYPE", "ICCSN", "WHERE", "HANDLE"};
    static const struct konctl_listing listing = {"cards", headers, ARRAY_SIZE(headers), card_row,
                                                  NULL};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, card_usage, &a, &r))
        return r;
    return konctl_list(k, "/control/v1/cards", &listing);
}

/* Reads --ct and --slot (both required). Returns an exit code. */
static int slot_options(const struct args_opt *ct, const struct args_opt *slot, uint64_t *ret)
{
    if (!ct->value || !slot->value) {
        konctl_error("this command needs --ct CT and --slot N");
        konctl_hint("'konctl terminal list' shows the terminals and their slots");
        return KONCTL_EXIT_USAGE;
    }
    if (args_uint_parse(slot->value, SLOT_MAX, ret) < 0 || *ret == 0) {
        konctl_error("--slot takes a slot number from 1 to %d, not '%s'", SLOT_MAX, slot->value);
        return KONCTL_EXIT_USAGE;
    }
    return KONCTL_EXIT_OK;
}

/* card insert and card remove. */
static int card_move(struct konctl *k, int argc, char **argv, bool insert)
{
    struct args_opt opts[] = {{"ct", true, NULL}, {"slot", true, NULL}};
    json_t *answer = NULL;
    json_t *body = NULL;
    const json_t *card;
    char where[96];
    uint64_t slot = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), insert ? 1 : 0, insert ? 1 : 0,
                      card_usage, &a, &r))
        return r;
    r = slot_options(&opts[0], &opts[1], &slot);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (insert)
        body = json_pack("{s:s,s:I,s:s}", "ct", opts[0].value, "slot", (json_int_t)slot, "card",
                         a.pos[0]);
    else
        body = json_pack("{s:s,s:I}", "ct", opts[0].value, "slot", (json_int_t)slot);
    if (!body) {
        konctl_error("cannot send the terminal or card name: not valid UTF-8");
        return KONCTL_EXIT_USAGE;
    }
    r = konctl_call(k, "POST", insert ? "/control/v1/cards/insert" : "/control/v1/cards/remove",
                    body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
        goto out;
    }
    /* Invariant 2: from the answer. */
    card = insert ? answer : json_object_get(answer, "removed");
    where_text(json_object_get(card, "where"), where, sizeof(where));
    {
        char *name = out_json_text(json_object_get(card, "name"));
        char *handle = out_json_text(json_object_get(card, "handle"));

        if (name && handle && insert)
            (void)printf("inserted '%s' into %s (card handle %s)\n", name, where, handle);
        else if (name && handle)
            (void)printf("removed '%s' from %s\n", name, where);
        else
            konctl_error("out of memory");
        free(name);
        free(handle);
    }
out:
    json_decref(body);
    json_decref(answer);
    return r;
}

static int card_import(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"name", true, NULL}, {"password", true, NULL}};
    char *data = NULL;
    json_t *answer = NULL;
    json_t *body = NULL;
    char *b64 = NULL;
    size_t len = 0;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, 1, card_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("'card import' needs --name NAME for the new card");
        return KONCTL_EXIT_USAGE;
    }
    r = file_read_all(a.pos[0], P12_FILE_MAX, &data, &len);
    if (r < 0) {
        konctl_error("cannot read '%s': %s", a.pos[0],
                     r == -EFBIG ? "larger than 46 KiB, no test identity is" : strerror(-r));
        return KONCTL_EXIT_USAGE;
    }
    b64 = base64_encode((const unsigned char *)data, len);
    body = b64 ? json_pack("{s:s,s:s,s:s}", "name", opts[0].value, "p12_base64", b64, "password",
                           opts[1].value ? opts[1].value : "00")
               : NULL;
    if (!body) {
        konctl_error("cannot send the name or password: not valid UTF-8");
        r = KONCTL_EXIT_USAGE;
        goto out;
    }
    r = konctl_call(k, "POST", "/control/v1/cards/import", body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else {
        char *name = out_json_text(json_object_get(answer, "name"));
        char *type = out_json_text(json_object_get(answer, "type"));
        char *iccsn = out_json_text(json_object_get(answer, "iccsn"));
        const json_t *cert;
        size_t i;

        if (name && type && iccsn)
            (void)printf("imported '%s': %s, ICCSN %s", name, type, iccsn);
        json_array_foreach(json_object_get(answer, "certificates"), i, cert)
        {
            char *key_ref = out_json_text(json_object_get(cert, "key_ref"));
            char *alg = out_json_text(json_object_get(cert, "algorithm"));

            if (key_ref && alg)
                (void)printf("%s %s (%s)", i ? "," : ", certificate", key_ref, alg);
            free(key_ref);
            free(alg);
        }
        (void)printf("\n");
        free(name);
        free(type);
        free(iccsn);
    }
out:
    /* Invariant 3. */
    if (b64)
        explicit_bzero(b64, strlen(b64));
    free(b64);
    if (data)
        explicit_bzero(data, len);
    free(data);
    json_decref(body);
    json_decref(answer);
    return r;
}

int cmd_card(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "insert", "remove", "import"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", card_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return card_list(k, argc, argv);
    case 1:
        return card_move(k, argc, argv, true);
    case 2:
        return card_move(k, argc, argv, false);
    case 3:
        return card_import(k, argc, argv);
    default:
        return r;
    }
}

/* "1:smcb1 2:hba1" from a terminal's cards, "-" when it holds none. */
static void cards_text(const json_t *cards, char *buf, size_t size)
{
    const json_t *c;
    size_t used = 0;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(cards, i, c)
    {
        int n = snprintf(buf + used, size - used, "%s%" JSON_INTEGER_FORMAT ":%s", i ? " " : "",
                         json_integer_value(json_object_get(c, "slot")),
                         json_string_value(json_object_get(c, "card"))
                             ? json_string_value(json_object_get(c, "card"))
                             : "?");

        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (!buf[0])
        (void)snprintf(buf, size, "-");
}

static void terminal_row(struct out_table *t, const json_t *term)
{
    char cards[512];

    cards_text(json_object_get(term, "cards"), cards, sizeof(cards));
    out_table_add_json(t, json_object_get(term, "id"));
    out_table_add_json(t, json_object_get(term, "name"));
    out_table_add_json(t, json_object_get(term, "slots"));
    out_table_add(t, json_is_true(json_object_get(term, "connected")) ? "yes" : "no");
    out_table_add(t, json_is_true(json_object_get(term, "active")) ? "yes" : "no");
    out_table_add(t, cards);
}

static int terminal_list(struct konctl *k, int argc, char **argv)
{
    static const char *const headers[] = {"ID", "NAME", "SLOTS", "CONNECTED", "ACTIVE", "CARDS"};
    static const struct konctl_listing listing = {"terminals", headers, ARRAY_SIZE(headers),
                                                  terminal_row, NULL};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 0, 0, terminal_usage, &a, &r))
        return r;
    return konctl_list(k, "/control/v1/terminals", &listing);
}

/* "/control/v1/terminals/ID" (heap) or NULL. */
static char *terminal_path(const char *id)
{
    char *escaped = http_escape(id);
    size_t size = escaped ? strlen("/control/v1/terminals/") + strlen(escaped) + 1 : 0;
    char *path = escaped ? malloc(size) : NULL;

    if (path)
        (void)snprintf(path, size, "/control/v1/terminals/%s", escaped);
    free(escaped);
    return path;
}

static int terminal_show(struct konctl *k, int argc, char **argv)
{
    json_t *answer = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, terminal_usage, &a, &r))
        return r;
    path = terminal_path(a.pos[0]);
    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, "GET", path, NULL, &answer);
    free(path);
    if (r != KONCTL_EXIT_OK)
        return r;
    if (k->json) {
        (void)out_json_print(stdout, answer);
    } else {
        const char *display = json_string_value(json_object_get(answer, "display"));
        char cards[512];

        cards_text(json_object_get(answer, "cards"), cards, sizeof(cards));
        (void)printf("id:         %s\n", json_string_value(json_object_get(answer, "id")));
        (void)printf("name:       %s\n", json_string_value(json_object_get(answer, "name")));
        (void)printf("slots:      %" JSON_INTEGER_FORMAT "\n",
                     json_integer_value(json_object_get(answer, "slots")));
        (void)printf("connected:  %s\n",
                     json_is_true(json_object_get(answer, "connected")) ? "yes" : "no");
        (void)printf("active:     %s\n",
                     json_is_true(json_object_get(answer, "active")) ? "yes" : "no");
        (void)printf("cards:      %s\n", cards);
        (void)printf("display:    %s\n", display && display[0] ? display : "-");
    }
    json_decref(answer);
    return r;
}

static int terminal_connect(struct konctl *k, int argc, char **argv, bool connected)
{
    json_t *answer = NULL;
    json_t *body = NULL;
    char *escaped = NULL;
    char *path = NULL;
    size_t size;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, NULL, 0, 1, 1, terminal_usage, &a, &r))
        return r;
    escaped = http_escape(a.pos[0]);
    size = escaped ? strlen("/control/v1/terminals/") + strlen(escaped) + 1 : 0;
    path = escaped ? malloc(size) : NULL;
    body = json_pack("{s:b}", "connected", connected);
    if (!path || !body) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    (void)snprintf(path, size, "/control/v1/terminals/%s", escaped);
    r = konctl_call(k, "PUT", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else if (json_is_true(json_object_get(answer, "connected")))
        (void)printf("terminal %s is connected\n", a.pos[0]);
    else
        (void)printf("terminal %s is disconnected%s\n", a.pos[0],
                     json_is_true(json_object_get(answer, "active"))
                         ? "; its cards were removed and EC_CardTerminal_Not_Available is raised"
                         : "; its cards were removed");
out:
    free(path);
    free(escaped);
    json_decref(body);
    json_decref(answer);
    return r;
}

int cmd_terminal(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"list", "connect", "disconnect", "show"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "list", terminal_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return terminal_list(k, argc, argv);
    case 1:
        return terminal_connect(k, argc, argv, true);
    case 2:
        return terminal_connect(k, argc, argv, false);
    case 3:
        return terminal_show(k, argc, argv);
    default:
        return r;
    }
}
