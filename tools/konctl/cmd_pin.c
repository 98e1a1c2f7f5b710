/* cmd_pin: the virtual PIN pads of the simulated card terminals (/control/v1/pinpad) and a
 * card's auto-PIN setting (/control/v1/cards/{card}/auto-pin). A CardService operation that
 * needs a PIN waits until it is typed here, as a person would type it on the terminal.
 *
 * Invariants:
 *  1. konctl checks only the form (digits, on/off); the daemon judges terminals and cards
 *     (exit 7 unknown, 8 the pad waits for nothing, 5 refused).
 *  2. What is typed is sent once and never printed; what is printed comes from the answer.
 *  3. Several values are typed one after another, one per step (old PIN, new PIN, new PIN
 *     again); typing stops at the first refusal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "konctl.h"
#include "output.h"

/* What a PIN pad takes in one step (pin.h: CARDS_PIN_ENTRY_MAX). */
#define DIGITS_MAX 12

static const char pin_usage[] =
    "Usage: konctl pin show [--ct CT]\n"
    "       konctl pin type --ct CT DIGITS [DIGITS...]\n"
    "       konctl pin cancel --ct CT\n"
    "       konctl pin auto --card CARD [on|off]\n"
    "\n"
    "show    what each terminal's PIN pad asks for: card, PIN reference, operation, the\n"
    "        text on the display and the step (the default)\n"
    "type    type DIGITS on the PIN pad of terminal CT; several values answer the steps\n"
    "        in turn (ChangePin asks for the old PIN, the new PIN and the new PIN again)\n"
    "cancel  press cancel on the PIN pad: the waiting operation ends with 4049\n"
    "auto    show or set the auto-PIN of catalog card CARD: when on, the PIN pad enters\n"
    "        the card's stored PIN or PUK itself, so CI runs without typing (new PINs\n"
    "        still wait for typing)\n";

static char *path_with(const char *prefix, const char *segment, const char *suffix)
{
    char *escaped = http_escape(segment);
    size_t size = escaped ? strlen(prefix) + strlen(escaped) + strlen(suffix) + 1 : 0;
    char *path = escaped ? malloc(size) : NULL;

    if (path)
        (void)snprintf(path, size, "%s%s%s", prefix, escaped, suffix);
    free(escaped);
    return path;
}

static void print_pad(const json_t *pad)
{
    char *ct = out_json_text(json_object_get(pad, "ct"));

    if (!json_is_true(json_object_get(pad, "waiting"))) {
        (void)printf("%s: waits for no entry\n", ct ? ct : "?");
    } else {
        char *card = out_json_text(json_object_get(pad, "card"));
        char *pin = out_json_text(json_object_get(pad, "pin"));
        char *op = out_json_text(json_object_get(pad, "operation"));
        char *display = out_json_text(json_object_get(pad, "display"));
        char *deadline = out_json_text(json_object_get(pad, "deadline"));

        (void)printf("%s: \"%s\" (%s of %s on card '%s', step %" JSON_INTEGER_FORMAT
                     " of %" JSON_INTEGER_FORMAT ", until %s)\n",
                     ct ? ct : "?", display ? display : "", op ? op : "", pin ? pin : "",
                     card ? card : "", json_integer_value(json_object_get(pad, "step")),
                     json_integer_value(json_object_get(pad, "steps")), deadline ? deadline : "");
        free(card);
        free(pin);
        free(op);
        free(display);
        free(deadline);
    }
    free(ct);
}

static int pin_show(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"ct", true, NULL}};
    json_t *answer = NULL;
    char *path = NULL;
    const json_t *pad;
    struct args a;
    size_t i;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, pin_usage, &a, &r))
        return r;
    path = opts[0].value ? path_with("/control/v1/pinpad/", opts[0].value, "")
                         : strdup("/control/v1/pinpad");
    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, "GET", path, NULL, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else if (opts[0].value)
        print_pad(answer);
    else
        json_array_foreach(json_object_get(answer, "pinpads"), i, pad) print_pad(pad);
out:
    free(path);
    json_decref(answer);
    return r;
}

static bool digits_are_valid(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= DIGITS_MAX && strspn(s, "0123456789") == n;
}

static int pin_type(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"ct", true, NULL}};
    json_t *answer = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 1, ARGS_POS_MAX, pin_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("'pin type' needs --ct CT, the terminal whose PIN pad to type on");
        konctl_hint("'konctl pin show' shows which PIN pad waits");
        return KONCTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < a.n_pos; i++) {
        if (!digits_are_valid(a.pos[i])) {
            konctl_error("a PIN pad takes 1 to %d digits per step; value %zu is not that",
                         DIGITS_MAX, i + 1);
            return KONCTL_EXIT_USAGE;
        }
    }
    path = path_with("/control/v1/pinpad/", opts[0].value, "/type");
    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = KONCTL_EXIT_OK;
    for (size_t i = 0; i < a.n_pos && r == KONCTL_EXIT_OK; i++) {
        json_t *body = json_pack("{s:s}", "pin", a.pos[i]);

        json_decref(answer);
        answer = NULL;
        r = body ? konctl_call(k, "POST", path, body, &answer) : KONCTL_EXIT_ERROR;
        json_decref(body);
    }
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else if (json_is_true(json_object_get(answer, "completed")))
        (void)printf("typed on the PIN pad of %s; the entry is complete\n", opts[0].value);
    else
        print_pad(answer);
out:
    free(path);
    json_decref(answer);
    return r;
}

static int pin_cancel(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"ct", true, NULL}};
    json_t *answer = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, pin_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("'pin cancel' needs --ct CT");
        return KONCTL_EXIT_USAGE;
    }
    path = path_with("/control/v1/pinpad/", opts[0].value, "/cancel");
    if (!path) {
        konctl_error("out of memory");
        return KONCTL_EXIT_ERROR;
    }
    r = konctl_call(k, "POST", path, NULL, &answer);
    if (r == KONCTL_EXIT_OK && k->json)
        (void)out_json_print(stdout, answer);
    else if (r == KONCTL_EXIT_OK)
        (void)printf("cancelled the PIN entry on %s\n", opts[0].value);
    free(path);
    json_decref(answer);
    return r;
}

static int pin_auto(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"card", true, NULL}};
    json_t *answer = NULL;
    json_t *body = NULL;
    char *path = NULL;
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 1, pin_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("'pin auto' needs --card CARD");
        konctl_hint("'konctl card list' shows the catalog");
        return KONCTL_EXIT_USAGE;
    }
    if (a.n_pos == 1 && strcmp(a.pos[0], "on") != 0 && strcmp(a.pos[0], "off") != 0) {
        konctl_error("'pin auto' takes on or off, not '%s'", a.pos[0]);
        return KONCTL_EXIT_USAGE;
    }
    path = path_with("/control/v1/cards/", opts[0].value, "/auto-pin");
    if (a.n_pos == 1)
        body = json_pack("{s:b}", "enabled", strcmp(a.pos[0], "on") == 0);
    if (!path || (a.n_pos == 1 && !body)) {
        konctl_error("out of memory");
        r = KONCTL_EXIT_ERROR;
        goto out;
    }
    r = konctl_call(k, a.n_pos == 1 ? "PUT" : "GET", path, body, &answer);
    if (r != KONCTL_EXIT_OK)
        goto out;
    if (k->json)
        (void)out_json_print(stdout, answer);
    else
        (void)printf("auto-PIN of card '%s' is %s\n", opts[0].value,
                     json_is_true(json_object_get(answer, "auto_pin")) ? "on" : "off");
out:
    free(path);
    json_decref(body);
    json_decref(answer);
    return r;
}

int cmd_pin(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"show", "type", "cancel", "auto"};
    int shift = 0;
    int r;
    int i;

    i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), "show", pin_usage, &shift, &r);
    argc -= shift;
    argv += shift;
    switch (i) {
    case 0:
        return pin_show(k, argc, argv);
    case 1:
        return pin_type(k, argc, argv);
    case 2:
        return pin_cancel(k, argc, argv);
    case 3:
        return pin_auto(k, argc, argv);
    default:
        return r;
    }
}
