/* store/reset: the factory reset of config.db (TIP1-A_4820). It empties the tables that hold
 * configuration: settings (a missing row is the default), administrator accounts and the info
 * model with its card terminals. It does not create the new first administrator or the demo
 * practice: mgmt and the daemon do, as at first start.
 *
 * Invariants:
 *  1. All tables are emptied in one write transaction: a crash or an I/O error leaves either
 *     the old configuration or the empty one, never a mix (TIP1-A_4813).
 *  2. The in-memory copies (setting values, info model) follow only after the commit, and
 *     the setting listeners hear about every value that changed, so the running modules apply
 *     the delivery state without a restart. */
#include <errno.h>

#include "base/base.h"
#include "store/store_internal.h"

/* Relations first: their foreign keys point at entities. */
static const char reset_sql[] = "DELETE FROM relations; DELETE FROM entities; "
                                "DELETE FROM users; DELETE FROM settings;";

int store_factory_reset(struct store *st)
{
    int r;

    if (!st)
        return -EINVAL;
    r = store__tx_begin(st);
    if (r < 0)
        return r;
    store__im_invalidate(st);
    if (sqlite3_exec(st->db, reset_sql, NULL, NULL, NULL) != SQLITE_OK) {
        log_msg(LOG_LEVEL_DEBUG, "store: factory reset failed: %s", sqlite3_errmsg(st->db));
        store__tx_rollback(st);
        return -EIO;
    }
    r = store__tx_commit(st);
    if (r < 0)
        return r;
    /* Invariant 2. */
    store__settings_defaults(st);
    return 0;
}
