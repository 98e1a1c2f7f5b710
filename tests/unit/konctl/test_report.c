/* Tests of tools/konctl/report.c: exit codes from HTTP statuses and transport failures, and
 * the messages and hints printed for them. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"
#include "konctl.h"

#define URL "https://127.0.0.1:8443"

/* http_result_done() lives in http.c, outside konctl_lib. */
static void result_done(struct http_result *res)
{
    json_decref(res->body);
    res->body = NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Runs report_failure() on res and returns what it printed (free it). */
static char *report(const struct http_result *res, int *ret_exit)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    *ret_exit = report_failure(f, res, URL);
    assert_int_equal(fclose(f), 0);
    return text;
}

static struct http_result answered(long status, const char *body)
{
    struct http_result res = {.fail = HTTP_FAIL_NONE, .status = status, .https = true};

    if (body) {
        res.body = json_loads(body, 0, NULL);
        assert_non_null(res.body);
    }
    return res;
}

static void exit_from_status_maps_each_documented_status(void **state)
{
    static const struct {
        long status;
        int exit;
    } cases[] = {
        {200, KONCTL_EXIT_OK},        {201, KONCTL_EXIT_OK},        {204, KONCTL_EXIT_OK},
        {400, KONCTL_EXIT_REFUSED},   {413, KONCTL_EXIT_REFUSED},   {401, KONCTL_EXIT_AUTH},
        {403, KONCTL_EXIT_FORBIDDEN}, {404, KONCTL_EXIT_NOT_FOUND}, {409, KONCTL_EXIT_CONFLICT},
        {405, KONCTL_EXIT_ERROR},     {500, KONCTL_EXIT_ERROR},     {302, KONCTL_EXIT_ERROR},
        {0, KONCTL_EXIT_ERROR},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(report_exit_from_status(cases[i].status), cases[i].exit);
}

static void exit_code_calls_every_transport_failure_unreachable(void **state)
{
    static const struct {
        enum http_fail fail;
        int exit;
    } cases[] = {
        {HTTP_FAIL_REFUSED, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_RESOLVE, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_CONNECT_TIMEOUT, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_TIMEOUT, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_TLS, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_CLOSED, KONCTL_EXIT_UNREACHABLE},
        {HTTP_FAIL_BAD_URL, KONCTL_EXIT_USAGE},
        {HTTP_FAIL_BAD_ANSWER, KONCTL_EXIT_ERROR},
        {HTTP_FAIL_OTHER, KONCTL_EXIT_ERROR},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct http_result res = {.fail = cases[i].fail};
        assert_int_equal(report_exit_code(&res), cases[i].exit);
    }
}

static void failure_prints_the_server_message_for_bad_credentials(void **state)
{
    struct http_result res =
        answered(401, "{\"error\": {\"status\": 401, \"code\": \"bad_credentials\", "
                      "\"message\": \"wrong user name or password\"}}");
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_AUTH);
    assert_true(starts_with(text, "konctl: wrong user name or password\nhint: "));
    assert_non_null(strstr(text, "KONCTL_PASSWORD_FILE"));
    free(text);
    result_done(&res);
}

static void failure_for_locked_account_points_to_unlock(void **state)
{
    struct http_result res =
        answered(401, "{\"error\": {\"status\": 401, \"code\": \"locked\", "
                      "\"message\": \"account locked until 2026-11-29T09:00:00Z\"}}");
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_AUTH);
    assert_non_null(strstr(text, "konctl: account locked until 2026-11-29T09:00:00Z\n"));
    assert_non_null(strstr(text, "konctl users unlock"));
    free(text);
    result_done(&res);
}

static void failure_for_critical_state_names_gematik_code_and_condition(void **state)
{
    struct http_result res =
        answered(409, "{\"error\": {\"status\": 409, \"code\": \"critical_state\", \"message\": "
                      "\"refused in critical operating state\", \"gematik_code\": 4002, "
                      "\"condition\": \"EC_Secure_KeyStore_Not_Available\"}}");
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_CONFLICT);
    assert_string_equal(text, "konctl: refused in critical operating state\n"
                              "konctl: refused in critical state: gematik code 4002, "
                              "condition EC_Secure_KeyStore_Not_Available\n"
                              "hint: 'konctl ec list' shows the active conditions\n");
    free(text);
    result_done(&res);

    /* A condition object is named by its display form. */
    res = answered(409, "{\"error\": {\"code\": \"critical_state\", \"message\": \"m\", "
                        "\"gematik_code\": 4002, \"condition\": {\"name\": \"EC_X\", "
                        "\"display\": \"EC_X(ct1)\"}}}");
    text = report(&res, &code);
    assert_non_null(strstr(text, "gematik code 4002, condition EC_X(ct1)\n"));
    free(text);
    result_done(&res);
}

static void failure_for_plain_conflict_has_no_gematik_line(void **state)
{
    struct http_result res = answered(409, "{\"error\": {\"status\": 409, \"code\": \"conflict\", "
                                           "\"message\": \"user 'bob' exists\"}}");
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_CONFLICT);
    assert_string_equal(text, "konctl: user 'bob' exists\n");
    free(text);
    result_done(&res);
}

static void failure_without_json_body_shows_status_or_text(void **state)
{
    struct http_result res = answered(502, NULL);
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_ERROR);
    assert_true(starts_with(text, "konctl: the daemon answered HTTP 502\n"));
    free(text);

    (void)snprintf(res.detail, sizeof(res.detail), "Bad Gateway");
    text = report(&res, &code);
    assert_true(starts_with(text, "konctl: Bad Gateway\n"));
    free(text);
}

static void failure_cleans_control_characters_from_server_text(void **state)
{
    struct http_result res = answered(
        400, "{\"error\": {\"code\": \"invalid_value\", \"message\": \"bad\\u001b[31m\"}}");
    int code;
    char *text = report(&res, &code);

    assert_int_equal(code, KONCTL_EXIT_REFUSED);
    assert_string_equal(text, "konctl: bad [31m\n");
    free(text);
    result_done(&res);
}

static void failure_for_tls_suggests_pinning_the_certificate(void **state)
{
    struct http_result res = {.fail = HTTP_FAIL_TLS, .https = true};
    int code;
    char *text = NULL;

    (void)snprintf(res.detail, sizeof(res.detail),
                   "SSL certificate problem: self-signed "
                   "certificate");
    text = report(&res, &code);
    assert_int_equal(code, KONCTL_EXIT_UNREACHABLE);
    assert_non_null(
        strstr(text, "konctl: TLS failure talking to " URL ": SSL certificate problem"));
    assert_non_null(strstr(text, "hint: trust the daemon's certificate with --cacert "
                                 "DATA/identity/mgmt-cert.pem"));
    free(text);
}

static void failure_says_which_transport_problem_it_was(void **state)
{
    struct http_result refused = {.fail = HTTP_FAIL_REFUSED, .os_errno = ECONNREFUSED};
    struct http_result connect = {.fail = HTTP_FAIL_CONNECT_TIMEOUT, .https = true};
    struct http_result handshake = {
        .fail = HTTP_FAIL_CONNECT_TIMEOUT, .https = true, .tcp_connected = true};
    struct http_result slow = {.fail = HTTP_FAIL_TIMEOUT, .timeout_ms = 30000};
    int code;
    char *text = NULL;

    text = report(&refused, &code);
    assert_int_equal(code, KONCTL_EXIT_UNREACHABLE);
    assert_true(starts_with(text, "konctl: cannot connect to " URL ": Connection refused\n"));
    free(text);

    text = report(&connect, &code);
    assert_int_equal(code, KONCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(text, "konctl: no connection to " URL " within 5 s (connect timeout)"));
    free(text);

    text = report(&handshake, &code);
    assert_int_equal(code, KONCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(text, "konctl: no TLS handshake with " URL " within 5 s"));
    free(text);

    text = report(&slow, &code);
    assert_int_equal(code, KONCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(text, "no answer from " URL " within 30 s (request timeout)"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_from_status_maps_each_documented_status),
        cmocka_unit_test(exit_code_calls_every_transport_failure_unreachable),
        cmocka_unit_test(failure_prints_the_server_message_for_bad_credentials),
        cmocka_unit_test(failure_for_locked_account_points_to_unlock),
        cmocka_unit_test(failure_for_critical_state_names_gematik_code_and_condition),
        cmocka_unit_test(failure_for_plain_conflict_has_no_gematik_line),
        cmocka_unit_test(failure_without_json_body_shows_status_or_text),
        cmocka_unit_test(failure_cleans_control_characters_from_server_text),
        cmocka_unit_test(failure_for_tls_suggests_pinning_the_certificate),
        cmocka_unit_test(failure_says_which_transport_problem_it_was),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
