/* diagnose: what "konctl diagnose" concludes from what it gathered. Pure: the facts go in as
 * JSON, the report comes out as JSON, and the human text is printed to a FILE * it is given,
 * so tests classify every situation without a daemon (tests/unit/konctl/test_diagnose.c).
 *
 * The facts (cmd_diagnose.c gathers them; any member may be missing or null = unknown):
 *   "management", "soap", "control": {"state": "ok"|"timeout"|"refused"|"error"|"skipped",
 *                                      "ms": N, "detail": "..."}
 *        "timeout": no answer within the probe's time although something listens (the
 *        connection was accepted or waits in a full accept queue: the process is alive);
 *        "refused": nothing listens.
 *   "leds":       {"power": "on", "system": "off", ...} from the API or DATA/run/leds.json
 *   "conditions": ["EC_LOG_OVERFLOW", ...] (active condition names)
 *   "log":        the answer of GET /api/v1/log/stats
 *   "settings":   {"LOG_SUCCESSFUL_CRYPTO_OPS": "Enabled", "LOG_LEVEL_SYSLOG": "Info",
 *                  "SECURITY_LOG_DAYS": "180"} (values as text)
 *   "update":     {"available": bool, "last_fallback": {...} or null}
 *
 * The report's keys are stable (docs/konctl.md, "konctl diagnose --json"). */
#ifndef KONCTL_DIAGNOSE_H
#define KONCTL_DIAGNOSE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* The situations, in the order they are reported (the most urgent first). */
enum diag_situation {
    DIAG_DOWN,               /* nothing answers and nothing accepts a connection */
    DIAG_HUNG,               /* the process accepts connections but does not answer */
    DIAG_LOG_NOT_WRITABLE,   /* EC_Security_Log_Not_Writable */
    DIAG_FIRMWARE_BLOCKED,   /* EC_FW_Not_Valid_Status_Blocked */
    DIAG_UPDATE_ROLLED_BACK, /* the launcher fell back to the old slot */
    DIAG_LOG_OVERFLOW,       /* EC_LOG_OVERFLOW */
    DIAG_HEALTHY,            /* none of the above */
    DIAG_MAX
};

/* "down", "hung", "log_not_writable", "firmware_blocked", "update_rolled_back",
 * "log_overflow", "healthy". */
const char *diag_situation_to_string(enum diag_situation s);

/* A topic's share of the records from which on it counts as a dominant producer. */
#define DIAG_DOMINANT_SHARE 0.2

/* Classifies facts and makes the recovery plans. Returns a new report (json_decref it):
 *   {"situations": [names], "findings": [{"situation", "evidence"}],
 *    "plan_a": {"available": bool, "dominant": [{"topic", "records", "share"}],
 *               "settings": [{"name", "from", "to", "reason"}], "rate_bytes_per_day",
 *               "rate_after_bytes_per_day", "retention_days_possible_after",
 *               "retention_days_setting", "clears_in_days", "steps": [text]},
 *    "plan_b": {"steps": [text]}, "plan_c": {"steps": [text]}}
 * Numbers that cannot be known are null. NULL when out of memory. */
json_t *diag_classify(const json_t *facts);

/* True if the report names situation s. */
bool diag_report_has(const json_t *report, enum diag_situation s);

/* Prints the report for people: the situations with their evidence, then Plan A, B and C as
 * numbered steps. Returns 0 or -EIO. */
int diag_print(FILE *f, const json_t *report, bool color);

#endif
