/* Helpers shared by the store unit tests: a fresh temporary directory per test with a
 * config.db path in it, removed again afterwards, and a second SQLite connection to the same
 * file for editing it behind the store's back. */
#ifndef KONN_STORE_TEST_H
#define KONN_STORE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

struct tmpdb {
    char dir[64];
    char path[96];
};

static inline int tmpdb_make(struct tmpdb *t)
{
    (void)snprintf(t->dir, sizeof(t->dir), "/tmp/konn-store-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    (void)snprintf(t->path, sizeof(t->path), "%s/config.db", t->dir);
    return 0;
}

static inline void tmpdb_remove(struct tmpdb *t)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[128];

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        (void)snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
        (void)unlink(p);
    }
    (void)rmdir(t->dir);
}

/* Runs sql on a connection of its own; returns the SQLite result code. */
static inline int tmpdb_exec(const struct tmpdb *t, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

#endif
