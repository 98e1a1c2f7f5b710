/* Unit tests for the critical-state gate: every cell of TAB_KON_504-01, the intersection
 * rule, non-Fatal conditions, the firewall rule and the operation names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/base.h"
#include "state/state.h"

/* TAB_KON_504-01, copied literally from gemSpec_Kon-digest.md section 2.4 (x = allowed,
 * – = blocked). Columns: SWI RNG SLOG TSC TDI CRL TSLG TA KS FWB NKE. */
/* clang-format off */
static const char *const expected[GATE_OP_MAX] = {
    [GATE_OP_BASE] =               "| – | x | x | x | x | x | x | x | x | x | x |",
    [GATE_OP_REGISTER_FM] =        "| – | – | – | x | x | x | x | x | x | x | x |",
    [GATE_OP_CARD] =               "| – | – | – | – | – | x | x | x | – | x | – |",
    [GATE_OP_CARD_SESSION] =       "| – | – | – | – | – | x | – | x | – | – | – |",
    [GATE_OP_SYMMETRIC] =          "| – | – | – | x | x | x | x | x | – | x | – |",
    [GATE_OP_CERT_INFO] =          "| – | – | – | x | x | x | x | x | – | x | x |",
    [GATE_OP_TLS_VPN_AUTO] =       "| – | – | – | – | – | – | – | – | – | – | – |",
    [GATE_OP_CERT_RENEW_MANUAL] =  "| – | – | – | – | – | – | – | – | – | – | x |",
    [GATE_OP_EVENT_SERVICE] =      "| – | x | x | x | x | x | x | x | x | x | – |",
    [GATE_OP_READ_CERT] =          "| – | – | – | – | – | x | x | x | x | x | – |",
    [GATE_OP_VERIFY_CERT] =        "| – | – | – | – | – | x | – | x | x | x | – |",
    [GATE_OP_NTP_SERVER] =         "| – | – | – | – | – | x | x | x | x | – | – |",
    [GATE_OP_MGMT_UPDATE] =        "| x | x | x | x | x | x | x | x | x | x | x |",
    [GATE_OP_MGMT_LOG_VIEW] =      "| x | x | x | x | x | x | x | x | x | x | x |",
    [GATE_OP_MGMT_FACTORY_RESET] = "| x | x | x | x | x | x | x | x | x | x | x |",
    [GATE_OP_MGMT_OTHER] =         "| – | x | x | x | x | x | x | x | x | x | x |",
};
/* clang-format on */

static const enum ec_id columns[] = {
    EC_SOFTWARE_INTEGRITY_CHECK_FAILED,
    EC_RANDOM_GENERATOR_NOT_RELIABLE,
    EC_SECURITY_LOG_NOT_WRITABLE,
    EC_TIME_SYNC_PENDING_CRITICAL,
    EC_TIME_DIFFERENCE_INTOLERABLE,
    EC_CRL_OUT_OF_DATE,
    EC_TSL_OUT_OF_DATE_BEYOND_GRACE_PERIOD,
    EC_TSL_TRUST_ANCHOR_OUT_OF_DATE,
    EC_SECURE_KEYSTORE_NOT_AVAILABLE,
    EC_FW_NOT_VALID_STATUS_BLOCKED,
    EC_NK_CERTIFICATE_EXPIRED,
};

/* Parses one literal row into 11 cells: true for "x", false for "–". */
static void parse_row(const char *row, bool ret_cells[11])
{
    size_t n = 0;

    for (const char *p = row; *p; p++) {
        if (*p == 'x') {
            assert_true(n < 11);
            ret_cells[n++] = true;
        } else if (strncmp(p, "–", strlen("–")) == 0) {
            assert_true(n < 11);
            ret_cells[n++] = false;
            p += strlen("–") - 1;
        } else {
            assert_true(*p == '|' || *p == ' ');
        }
    }
    assert_int_equal(n, 11);
}

static void every_cell_matches_tab_kon_504_01(void **state)
{
    int checked = 0;

    for (int op = 0; op < GATE_OP_MAX; op++) {
        bool cells[11];

        parse_row(expected[op], cells);
        for (size_t c = 0; c < ARRAY_SIZE(columns); c++) {
            if (gate_cell(op, columns[c]) != cells[c])
                fail_msg("row %s column %s: expected %s", gate_op_to_string(op),
                         ec_def_get(columns[c])->name, cells[c] ? "x" : "-");
            checked++;
        }
    }
    assert_int_equal(checked, 16 * 11);
}

static void columns_plus_firewall_are_exactly_the_fatal_conditions(void **state)
{
    int n_fatal = 0;

    for (int id = 0; id < EC_MAX; id++) {
        bool in_columns = id == EC_FIREWALL_NOT_RELIABLE;

        for (size_t c = 0; c < ARRAY_SIZE(columns); c++)
            in_columns = in_columns || columns[c] == (enum ec_id)id;
        assert_int_equal(ec_def_get(id)->severity == EVT_SEVERITY_FATAL, in_columns);
        n_fatal += in_columns;
    }
    assert_int_equal(n_fatal, 12);
}

static void non_fatal_conditions_never_block(void **state)
{
    struct ec_state *st = ec_state_new(NULL);

    for (int id = 0; id < EC_MAX; id++) {
        if (ec_def_get(id)->severity == EVT_SEVERITY_FATAL)
            continue;
        for (int op = 0; op < GATE_OP_MAX; op++)
            assert_true(gate_cell(op, id));
    }
    /* All 22 non-Fatal conditions at once still allow everything. */
    for (int id = 0; id < EC_MAX; id++) {
        const struct ec_def *d = ec_def_get(id);

        if (d->severity != EVT_SEVERITY_FATAL)
            assert_int_equal(ec_raise(st, id, d->parameterised ? "1" : NULL, NULL, 0), 1);
    }
    assert_int_equal(ec_count_active(st), 22);
    for (int op = 0; op < GATE_OP_MAX; op++) {
        enum ec_id blocker = EC_LOG_OVERFLOW;

        assert_true(gate_allows(st, op, &blocker));
        assert_int_equal(blocker, EC_LOG_OVERFLOW); /* untouched on success */
    }
    ec_state_free(st);
}

static void firewall_allows_only_update_log_view_and_factory_reset(void **state)
{
    struct ec_state *st = ec_state_new(NULL);

    for (int op = 0; op < GATE_OP_MAX; op++) {
        bool expect = op == GATE_OP_MGMT_UPDATE || op == GATE_OP_MGMT_LOG_VIEW ||
                      op == GATE_OP_MGMT_FACTORY_RESET;

        assert_int_equal(gate_cell(op, EC_FIREWALL_NOT_RELIABLE), expect);
    }
    assert_int_equal(ec_raise(st, EC_FIREWALL_NOT_RELIABLE, NULL, NULL, 0), 1);
    for (int op = 0; op < GATE_OP_MAX; op++) {
        enum ec_id blocker = EC_MAX;
        bool ok = gate_allows(st, op, &blocker);

        assert_int_equal(ok, gate_cell(op, EC_FIREWALL_NOT_RELIABLE));
        if (!ok)
            assert_int_equal(blocker, EC_FIREWALL_NOT_RELIABLE);
    }
    ec_state_free(st);
}

static void no_condition_allows_everything(void **state)
{
    struct ec_state *st = ec_state_new(NULL);

    for (int op = 0; op < GATE_OP_MAX; op++)
        assert_true(gate_allows(st, op, NULL));
    ec_state_free(st);
}

static void two_fatal_conditions_allow_only_the_intersection(void **state)
{
    struct ec_state *st = ec_state_new(NULL);
    enum ec_id blocker = EC_MAX;

    /* CRL allows card and event service; NKE blocks card and event service but allows the
     * manual certificate renewal that CRL blocks. */
    assert_int_equal(ec_raise(st, EC_CRL_OUT_OF_DATE, NULL, NULL, 0), 1);
    assert_true(gate_allows(st, GATE_OP_CARD, NULL));
    assert_true(gate_allows(st, GATE_OP_EVENT_SERVICE, NULL));
    assert_false(gate_allows(st, GATE_OP_CERT_RENEW_MANUAL, &blocker));
    assert_int_equal(blocker, EC_CRL_OUT_OF_DATE);

    assert_int_equal(ec_raise(st, EC_NK_CERTIFICATE_EXPIRED, NULL, NULL, 0), 1);
    for (int op = 0; op < GATE_OP_MAX; op++) {
        bool expect = gate_cell(op, EC_CRL_OUT_OF_DATE) && gate_cell(op, EC_NK_CERTIFICATE_EXPIRED);

        assert_int_equal(gate_allows(st, op, NULL), expect);
    }
    assert_false(gate_allows(st, GATE_OP_CARD, &blocker));
    assert_int_equal(blocker, EC_NK_CERTIFICATE_EXPIRED);
    assert_false(gate_allows(st, GATE_OP_CERT_RENEW_MANUAL, NULL));
    assert_true(gate_allows(st, GATE_OP_BASE, NULL));
    assert_true(gate_allows(st, GATE_OP_MGMT_LOG_VIEW, NULL));
    ec_state_free(st);
}

/* The 2020 case: with the security log not writable, event queries, log viewing, update and
 * factory reset keep working; card work answers 4002. */
static void security_log_not_writable_keeps_recovery_paths_open(void **state)
{
    struct ec_state *st = ec_state_new(NULL);
    enum ec_id blocker = EC_MAX;

    assert_int_equal(ec_raise(st, EC_SECURITY_LOG_NOT_WRITABLE, NULL, NULL, 0), 1);
    assert_true(gate_allows(st, GATE_OP_EVENT_SERVICE, NULL));
    assert_true(gate_allows(st, GATE_OP_MGMT_LOG_VIEW, NULL));
    assert_true(gate_allows(st, GATE_OP_MGMT_UPDATE, NULL));
    assert_true(gate_allows(st, GATE_OP_MGMT_FACTORY_RESET, NULL));
    assert_true(gate_allows(st, GATE_OP_BASE, NULL));
    assert_false(gate_allows(st, GATE_OP_CARD, &blocker));
    assert_int_equal(blocker, EC_SECURITY_LOG_NOT_WRITABLE);
    assert_int_equal(GATE_REFUSED_CODE, 4002);
    assert_int_equal(ec_clear(st, EC_SECURITY_LOG_NOT_WRITABLE, NULL), 1);
    assert_true(gate_allows(st, GATE_OP_CARD, NULL));
    ec_state_free(st);
}

static void unknown_inputs_fail_closed(void **state)
{
    struct ec_state *st = ec_state_new(NULL);
    enum ec_id blocker = EC_LOG_OVERFLOW;

    assert_false(gate_cell(GATE_OP_MAX, EC_LOG_OVERFLOW));
    assert_false(gate_cell(GATE_OP_BASE, EC_MAX));
    assert_false(gate_allows(st, GATE_OP_MAX, &blocker));
    assert_int_equal(blocker, EC_MAX);
    assert_false(gate_allows(NULL, GATE_OP_MGMT_LOG_VIEW, NULL));
    ec_state_free(st);
}

static void op_names_round_trip(void **state)
{
    static const char *const names[GATE_OP_MAX] = {
        "base",         "register-fm",       "card",
        "card-session", "symmetric",         "cert-info",
        "tls-vpn-auto", "cert-renew-manual", "event-service",
        "read-cert",    "verify-cert",       "ntp-server",
        "mgmt-update",  "mgmt-log-view",     "mgmt-factory-reset",
        "mgmt-other",
    };

    for (int op = 0; op < GATE_OP_MAX; op++) {
        enum gate_op back = GATE_OP_MAX;

        assert_string_equal(gate_op_to_string(op), names[op]);
        assert_int_equal(gate_op_from_string(names[op], &back), 0);
        assert_int_equal(back, op);
    }
    assert_null(gate_op_to_string(GATE_OP_MAX));
}

static void soap_operations_map_to_their_rows(void **state)
{
    static const struct {
        const char *name;
        enum gate_op op;
    } soap[] = {
        {"VerifyPin", GATE_OP_CARD},
        {"UnblockPin", GATE_OP_CARD},
        {"ChangePin", GATE_OP_CARD},
        {"GetPinStatus", GATE_OP_CARD},
        {"EncryptDocument", GATE_OP_CARD},
        {"DecryptDocument", GATE_OP_CARD},
        {"SignDocument", GATE_OP_CARD},
        {"VerifyDocument", GATE_OP_CARD},
        {"GetJobNumber", GATE_OP_CARD},
        {"StopSignature", GATE_OP_CARD},
        {"ActivateComfortSignature", GATE_OP_CARD},
        {"DeactivateComfortSignature", GATE_OP_CARD},
        {"GetSignatureMode", GATE_OP_CARD},
        {"ExternalAuthenticate", GATE_OP_CARD},
        {"EnablePin", GATE_OP_CARD},
        {"DisablePin", GATE_OP_CARD},
        {"RequestCard", GATE_OP_CARD},
        {"EjectCard", GATE_OP_CARD},
        {"GetCardTerminals", GATE_OP_EVENT_SERVICE},
        {"GetCards", GATE_OP_EVENT_SERVICE},
        {"GetResourceInformation", GATE_OP_EVENT_SERVICE},
        {"Subscribe", GATE_OP_EVENT_SERVICE},
        {"RenewSubscriptions", GATE_OP_EVENT_SERVICE},
        {"Unsubscribe", GATE_OP_EVENT_SERVICE},
        {"GetSubscription", GATE_OP_EVENT_SERVICE},
        {"ReadCardCertificate", GATE_OP_READ_CERT},
        {"CheckCertificateExpiration", GATE_OP_READ_CERT},
        {"VerifyCertificate", GATE_OP_VERIFY_CERT},
    };

    for (size_t i = 0; i < ARRAY_SIZE(soap); i++) {
        enum gate_op op = GATE_OP_MAX;

        assert_int_equal(gate_op_from_string(soap[i].name, &op), 0);
        if (op != soap[i].op)
            fail_msg("%s maps to %s", soap[i].name, gate_op_to_string(op));
    }
}

static void unknown_operation_names_are_rejected(void **state)
{
    enum gate_op op = GATE_OP_CARD;

    assert_int_equal(gate_op_from_string("DeleteEverything", &op), -EINVAL);
    assert_int_equal(gate_op_from_string("verifypin", &op), -EINVAL); /* XML is case-sensitive */
    assert_int_equal(gate_op_from_string("", &op), -EINVAL);
    assert_int_equal(gate_op_from_string(NULL, &op), -EINVAL);
    assert_int_equal(op, GATE_OP_CARD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cell_matches_tab_kon_504_01),
        cmocka_unit_test(columns_plus_firewall_are_exactly_the_fatal_conditions),
        cmocka_unit_test(non_fatal_conditions_never_block),
        cmocka_unit_test(firewall_allows_only_update_log_view_and_factory_reset),
        cmocka_unit_test(no_condition_allows_everything),
        cmocka_unit_test(two_fatal_conditions_allow_only_the_intersection),
        cmocka_unit_test(security_log_not_writable_keeps_recovery_paths_open),
        cmocka_unit_test(unknown_inputs_fail_closed),
        cmocka_unit_test(op_names_round_trip),
        cmocka_unit_test(soap_operations_map_to_their_rows),
        cmocka_unit_test(unknown_operation_names_are_rejected),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
