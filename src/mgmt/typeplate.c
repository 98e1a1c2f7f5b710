/* typeplate: the device's type plate, DATA/identity/type-plate.txt. It stands for the label on
 * the case: product, serial number and the reset credential for the hidden button (the
 * vendor-specific factory reset path of TIP1-A_4820 that works when no administrator can log
 * in). It is made once, at first start, and survives the factory reset with the rest of
 * DATA/identity.
 *
 * Format (text, one "Key: value" per line; '#' starts a comment):
 *   Product: konnektord
 *   Serial: KON-0123456789AB
 *   Reset-Credential: 24 characters of rand_password's alphabet
 *
 * Invariants:
 *  1. An existing plate is never rewritten: the credential printed on it stays valid.
 *  2. The file is mode 0600 and written atomically. */
#include "mgmt/mgmt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLATE_FILE "identity/type-plate.txt"
#define PLATE_MAX 4096
/* 24 characters of a 32-letter alphabet: 120 bits, beyond guessing through the back-off. */
#define CREDENTIAL_LEN 24
#define SERIAL_BYTES 6

static int plate_create(const char *path)
{
    unsigned char serial[SERIAL_BYTES];
    char hex[2 * SERIAL_BYTES + 1], credential[CREDENTIAL_LEN + 1], text[512];
    int r;

    r = rand_bytes(serial, sizeof(serial));
    if (r == 0)
        r = rand_password(credential, CREDENTIAL_LEN);
    if (r < 0)
        return r;
    hex_encode(serial, sizeof(serial), hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    (void)snprintf(text, sizeof(text),
                   "# konnektord type plate: the label on the device. The reset credential\n"
                   "# triggers a factory reset through the hidden button (konctl button reset).\n"
                   "Product: konnektord\n"
                   "Serial: KON-%s\n"
                   "Reset-Credential: %s\n",
                   hex, credential);
    r = fs_write_atomic(path, text, strlen(text), 0600);
    explicit_bzero(credential, sizeof(credential));
    explicit_bzero(text, sizeof(text));
    return r;
}

static void take(const char *line, size_t len, const char *key, char *dst, size_t size)
{
    size_t k = strlen(key);

    if (len <= k + 1 || strncmp(line, key, k) != 0 || line[k] != ':')
        return;
    line += k + 1;
    len -= k + 1;
    while (len > 0 && *line == ' ') {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r'))
        len--;
    if (len < size) {
        memcpy(dst, line, len);
        dst[len] = '\0';
    }
}

int mgmt__type_plate_load(const char *data_dir, struct mgmt_type_plate *ret_plate)
{
    struct mgmt_type_plate plate = {0};
    char *path = fs_path_join(data_dir, PLATE_FILE), *dir = fs_path_join(data_dir, "identity");
    char *data = NULL;
    size_t len = 0;
    int r = -ENOMEM;

    if (!path || !dir)
        goto out;
    if (!fs_exists(path)) { /* invariant 1 */
        r = fs_mkdir_p(dir, 0700);
        if (r == 0)
            r = plate_create(path);
        if (r < 0)
            goto out;
        log_msg(LOG_LEVEL_INFO, "mgmt: created the type plate '%s'", path);
    }
    r = fs_read_all(path, PLATE_MAX, &data, &len);
    if (r < 0)
        goto out;
    for (const char *p = data; p < data + len;) {
        const char *eol = memchr(p, '\n', (size_t)(data + len - p));
        size_t l = eol ? (size_t)(eol - p) : (size_t)(data + len - p);

        take(p, l, "Product", plate.product, sizeof(plate.product));
        take(p, l, "Serial", plate.serial, sizeof(plate.serial));
        take(p, l, "Reset-Credential", plate.reset_credential, sizeof(plate.reset_credential));
        p += l + 1;
    }
    r = plate.reset_credential[0] ? 0 : -EBADMSG;
    if (r == 0)
        *ret_plate = plate;
out:
    if (data)
        explicit_bzero(data, len);
    free(data);
    explicit_bzero(&plate, sizeof(plate));
    free(dir);
    free(path);
    return r;
}
