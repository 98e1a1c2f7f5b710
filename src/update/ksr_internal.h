/* Declarations shared by the KSR client's files (ksr_client.c, ksr_fetch.c, ksr_routes.c)
 * and their unit tests only. */
#ifndef KONN_KSR_INTERNAL_H
#define KONN_KSR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "update/update.h"

/* Thread-safe (the KSR client's worker thread): POSTs list_Updates for id to url and parses
 * the answer. -EHOSTUNREACH, -ETIMEDOUT, -EPROTO (HTTP status or SOAP fault), -EBADMSG
 * (malformed answer), -EFBIG; the message in err. stop aborts the transfer when set. */
int upd__ksr_fetch_list(const char *url, const struct upd_ksr_identity *id, const atomic_bool *stop,
                        struct upd_ksr_list **ret_list, char *err, size_t err_size);
/* Thread-safe: downloads url into dir/name (size bytes), resuming dir/name.part with HTTP
 * Range. 0 when dir/name is complete; -EAGAIN when the transfer broke off (the part stays);
 * *ret_have gets the bytes on disk. */
int upd__ksr_fetch_file(const char *url, const char *dir, const char *name, uint64_t size,
                        const atomic_bool *stop, uint64_t *ret_have, char *err, size_t err_size);
/* name resolved against the KSR's URL ("http://ksr/" + "a.kbundle"). */
int upd__ksr_resolve(const char *base_url, const char *name, char **ret_url);

#endif
