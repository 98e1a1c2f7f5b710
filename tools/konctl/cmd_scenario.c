/* cmd_scenario: "konctl scenario practice": a simulated doctor's practice under load, the way
 * practice software (PVS) uses a connector: every workplace polls GetCards over SOAP and the
 * management status, the practice subscribes to events with a CETP sink of its own, and the
 * 2020 security-event storm runs alongside (firewall drops of LAN broadcasts through the
 * control API's flood; with --crypto-ops a LOG/CRYPTO_OP record per poll while
 * LOG_SUCCESSFUL_CRYPTO_OPS is Enabled). It prints figures per second and at the end:
 * p50/p99/max latency, timeouts and errors of SOAP and management, events received.
 *
 * Invariants:
 *  1. One thread per workplace with its own curl handles (keep-alive, as a PVS does); the
 *     samples go under one mutex into shared arrays. The main thread does the setup, the
 *     per-second figures and the crypto-ops switch; the sink thread reads CETP frames.
 *  2. Every request has a timeout (--timeout), so a hung connector shows as timeouts and the
 *     scenario still ends after --seconds plus at most one timeout.
 *  3. Setup changes only what the scenario needs (missing workplaces wsN of m1, the crypto-ops
 *     setting with --crypto-ops) and says so; it never removes anything. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "base/base.h"
#include "http.h"
#include "konctl.h"
#include "output.h"

#define WORKPLACES_MAX 200
#define SECONDS_MAX 3600
#define INTERVAL_MS_DEFAULT 1000
#define TIMEOUT_MS_DEFAULT 2000
#define SOAP_URL_DEFAULT "http://127.0.0.1:8080"
#define CETP_FRAME_MAX (1024 * 1024)

static const char scenario_usage[] =
    "usage: konctl scenario practice --workplaces N [--seconds S] [--storm RATE]\n"
    "                                [--crypto-ops] [--soap URL] [--interval MS]\n"
    "                                [--timeout MS] [--json]\n"
    "\n"
    "A simulated practice: N workplaces (ws1..wsN of mandant m1, client system cs1; missing\n"
    "ones are added) poll GetCards and the management status every --interval ms (default\n"
    "1000), the practice subscribes to CARD and OPERATIONAL_STATE events with a CETP sink,\n"
    "and --storm RATE runs the 2020 storm (RATE distinct firewall drops per second through\n"
    "the control API). --crypto-ops enables LOG_SUCCESSFUL_CRYPTO_OPS and writes a\n"
    "LOG/CRYPTO_OP record per poll while it stays enabled. Prints p50/p99/max latency,\n"
    "timeouts and errors per second and in total (--json: the totals and the seconds).\n"
    "  --soap URL      the LAN interface (KONCTL_SOAP_URL; default " SOAP_URL_DEFAULT ")\n"
    "  --timeout MS    each request's timeout (default 2000)\n";

/* ---- samples ---------------------------------------------------------------------------- */

enum kind { KIND_SOAP, KIND_MGMT, KIND_MAX };
enum outcome { OUT_OK, OUT_TIMEOUT, OUT_ERROR };

struct series {
    double *ms;
    size_t n, cap;
    uint64_t timeouts, errors;
};

struct run {
    const char *soap_url, *mgmt_url, *user, *password, *cacert;
    bool insecure;
    long interval_ms, timeout_ms;
    int64_t end_ms;
    pthread_mutex_t lock;
    struct series s[KIND_MAX];
    atomic_bool crypto_on;
    atomic_bool stop;
    atomic_ullong crypto_logged, events;
    int sink_fd;
};

static void sample(struct run *r, enum kind k, double ms, enum outcome o)
{
    struct series *s = &r->s[k];

    (void)pthread_mutex_lock(&r->lock);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *p = realloc(s->ms, cap * sizeof(*p));
        if (p) {
            s->ms = p;
            s->cap = cap;
        }
    }
    if (s->n < s->cap)
        s->ms[s->n++] = ms;
    if (o == OUT_TIMEOUT)
        s->timeouts++;
    else if (o == OUT_ERROR)
        s->errors++;
    (void)pthread_mutex_unlock(&r->lock);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The q-quantile (0 < q <= 1) of the n sorted values v, rounded to 0.1 ms; null when n is 0. */
static json_t *quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)ceil(q * (double)n);

    return n ? json_real(round(v[i ? i - 1 : 0] * 10) / 10) : json_null();
}

/* p50, p99 and max of ms[from..to) as a JSON object with the counts. */
static json_t *figures(const double *ms, size_t from, size_t to, uint64_t timeouts, uint64_t errors)
{
    size_t n = to - from;
    uint64_t failed = timeouts + errors < n ? timeouts + errors : n;
    double *v = n ? malloc(n * sizeof(*v)) : NULL;
    json_t *o;

    if (n && !v)
        return NULL;
    if (n) {
        memcpy(v, ms + from, n * sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_double);
    }
    o = json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "requests", (json_int_t)n, "ok",
                  (json_int_t)(n - failed), "timeouts", (json_int_t)timeouts, "errors",
                  (json_int_t)errors, "p50_ms", quantile(v, n, 0.5), "p99_ms", quantile(v, n, 0.99),
                  "max_ms", quantile(v, n, 1.0));
    free(v);
    return o;
}

/* ---- one workplace ---------------------------------------------------------------------- */

struct workplace {
    struct run *run;
    int n;
    pthread_t thread;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    size_t len = size * n;
    char *buf = arg; /* 1024 bytes: the start of the answer, for a fault check */
    size_t have = strlen(buf);

    if (have < 1023) {
        size_t take = len < 1023 - have ? len : 1023 - have;
        memcpy(buf + have, data, take);
        buf[have + take] = '\0';
    }
    return len;
}

/* Runs one prepared request; records its latency and outcome under kind. */
static void timed(struct run *r, CURL *h, enum kind k, bool soap)
{
    char head[1024] = "";
    curl_off_t us = 0;
    long status = 0;
    CURLcode rc;
    enum outcome o = OUT_OK;

    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, head);
    rc = curl_easy_perform(h);
    (void)curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        o = OUT_TIMEOUT;
    else if (rc != CURLE_OK || status != 200 || (soap && strstr(head, "Fault>")))
        o = OUT_ERROR;
    if (rc == CURLE_OPERATION_TIMEDOUT && us < r->timeout_ms * 1000)
        us = r->timeout_ms * 1000;
    sample(r, k, (double)us / 1000.0, o);
}

static CURL *handle(const struct run *r, const char *url)
{
    CURL *h = curl_easy_init();

    if (!h)
        return NULL;
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    return h;
}

static void *workplace_main(void *arg)
{
    struct workplace *w = arg;
    struct run *r = w->run;
    char soap_url[1024], status_url[1024], append_url[1024], body[2048], append[512];
    struct curl_slist *soap_hdr = NULL, *json_hdr = NULL;
    CURL *soap = NULL, *mgmt = NULL, *crypto = NULL;
    int64_t next = clock_real_mono_ms();

    (void)snprintf(soap_url, sizeof(soap_url), "%s/ws/EventService", r->soap_url);
    (void)snprintf(status_url, sizeof(status_url), "%s/api/v1/status", r->mgmt_url);
    (void)snprintf(append_url, sizeof(append_url), "%s/control/v1/seclog/append", r->mgmt_url);
    (void)snprintf(
        body, sizeof(body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope "
        "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:EVT=\"http://ws.gematik.de/conn/EventService/v7.2\" "
        "xmlns:CCTX=\"http://ws.gematik.de/conn/ConnectorContext/v2.0\" "
        "xmlns:CONN=\"http://ws.gematik.de/conn/ConnectorCommon/v5.0\"><soap:Body>"
        "<EVT:GetCards mandant-wide=\"false\"><CCTX:Context><CONN:MandantId>m1</CONN:MandantId>"
        "<CONN:ClientSystemId>cs1</CONN:ClientSystemId><CONN:WorkplaceId>ws%d</CONN:WorkplaceId>"
        "</CCTX:Context></EVT:GetCards></soap:Body></soap:Envelope>",
        w->n);
    (void)snprintf(append, sizeof(append),
                   "{\"topic\":\"LOG/CRYPTO_OP\",\"params\":{\"Operation\":\"SignDocument\","
                   "\"WorkplaceId\":\"ws%d\",\"Result\":\"OK\"}}",
                   w->n);
    soap_hdr = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
    soap_hdr = soap_hdr ? curl_slist_append(soap_hdr,
                                            "SOAPAction: \"http://ws.gematik.de/conn/EventService/"
                                            "v7.2#GetCards\"")
                        : NULL;
    json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
    soap = handle(r, soap_url);
    mgmt = handle(r, status_url);
    crypto = handle(r, append_url);
    if (!soap_hdr || !json_hdr || !soap || !mgmt || !crypto)
        goto out;
    (void)curl_easy_setopt(soap, CURLOPT_HTTPHEADER, soap_hdr);
    (void)curl_easy_setopt(soap, CURLOPT_POSTFIELDS, body);
    (void)curl_easy_setopt(soap, CURLOPT_SSL_VERIFYPEER, 0L);
    (void)curl_easy_setopt(soap, CURLOPT_SSL_VERIFYHOST, 0L);
    for (CURL *h = mgmt; h; h = h == mgmt ? crypto : NULL) {
        (void)curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        (void)curl_easy_setopt(h, CURLOPT_USERNAME, r->user);
        (void)curl_easy_setopt(h, CURLOPT_PASSWORD, r->password);
        if (r->cacert)
            (void)curl_easy_setopt(h, CURLOPT_CAINFO, r->cacert);
        if (r->insecure) {
            (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    (void)curl_easy_setopt(crypto, CURLOPT_HTTPHEADER, json_hdr);
    (void)curl_easy_setopt(crypto, CURLOPT_POSTFIELDS, append);
    /* Spread the workplaces over the interval, as real ones are. */
    next += r->interval_ms * w->n / (WORKPLACES_MAX + 1);
    while (!atomic_load(&r->stop) && clock_real_mono_ms() < r->end_ms) {
        int64_t now = clock_real_mono_ms();
        if (now < next) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)((next - now) % 1000) * 1000000L};
            ts.tv_sec = (time_t)((next - now) / 1000);
            (void)nanosleep(&ts, NULL);
            continue;
        }
        next += r->interval_ms;
        timed(r, soap, KIND_SOAP, true);
        timed(r, mgmt, KIND_MGMT, false);
        if (atomic_load(&r->crypto_on)) {
            char head[1024] = "";
            (void)curl_easy_setopt(crypto, CURLOPT_WRITEDATA, head);
            if (curl_easy_perform(crypto) == CURLE_OK)
                atomic_fetch_add(&r->crypto_logged, 1);
        }
    }
out:
    curl_easy_cleanup(soap);
    curl_easy_cleanup(mgmt);
    curl_easy_cleanup(crypto);
    curl_slist_free_all(soap_hdr);
    curl_slist_free_all(json_hdr);
    return NULL;
}

/* ---- the CETP sink ---------------------------------------------------------------------- */

static bool read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Reads "CETP" + 4-byte big-endian length + message frames from one connection. */
static void sink_connection(struct run *r, int fd)
{
    unsigned char head[8];
    char *msg = malloc(CETP_FRAME_MAX);

    while (msg && !atomic_load(&r->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint32_t len;
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (!read_full(fd, head, sizeof(head)) || memcmp(head, "CETP", 4) != 0)
            break;
        len = (uint32_t)head[4] << 24 | (uint32_t)head[5] << 16 | (uint32_t)head[6] << 8 | head[7];
        if (len > CETP_FRAME_MAX || !read_full(fd, msg, len))
            break;
        atomic_fetch_add(&r->events, 1);
    }
    free(msg);
    (void)close(fd);
}

static void *sink_main(void *arg)
{
    struct run *r = arg;

    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->sink_fd, .events = POLLIN};
        int fd;
        if (poll(&p, 1, 100) <= 0)
            continue;
        fd = accept(r->sink_fd, NULL, NULL);
        if (fd >= 0)
            sink_connection(r, fd); /* the connector keeps one connection per sink */
    }
    return NULL;
}

/* Listens on 127.0.0.1 on a port the kernel picks; returns the port or 0. */
static int sink_open(struct run *r)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    r->sink_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->sink_fd < 0 || bind(r->sink_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(r->sink_fd, 4) < 0 || getsockname(r->sink_fd, (struct sockaddr *)&a, &len) < 0)
        return 0;
    return ntohs(a.sin_port);
}

/* One SOAP call of the EventService with op's body inside the demo context; true on a
 * 200 answer without a fault. ret_answer (1024 bytes) gets the answer's start, may be NULL. */
static bool event_service(const struct run *r, const char *op, char *ret_answer)
{
    char url[1024], body[2048], head[1024] = "";
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
    CURL *h = NULL;
    long status = 0;
    bool ok = false;

    (void)snprintf(url, sizeof(url), "%s/ws/EventService", r->soap_url);
    (void)snprintf(body, sizeof(body),
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope "
                   "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                   "xmlns:EVT=\"http://ws.gematik.de/conn/EventService/v7.2\" "
                   "xmlns:CCTX=\"http://ws.gematik.de/conn/ConnectorContext/v2.0\" "
                   "xmlns:CONN=\"http://ws.gematik.de/conn/ConnectorCommon/v5.0\"><soap:Body>%s"
                   "</soap:Body></soap:Envelope>",
                   op);
    h = hdr ? handle(r, url) : NULL;
    if (h) {
        (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, head);
        ok = curl_easy_perform(h) == CURLE_OK &&
             curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
             !strstr(head, "Fault>");
    }
    if (ret_answer)
        (void)snprintf(ret_answer, 1024, "%s", head);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    return ok;
}

#define CONTEXT_XML                                                                                \
    "<CCTX:Context><CONN:MandantId>m1</CONN:MandantId><CONN:ClientSystemId>cs1</"                  \
    "CONN:ClientSystemId><CONN:WorkplaceId>ws1</CONN:WorkplaceId></CCTX:Context>"

static int subscribe(const struct run *r, int port, const char *topic)
{
    char op[1024];

    (void)snprintf(op, sizeof(op),
                   "<EVT:Subscribe>" CONTEXT_XML "<EVT:Subscription><EVT:EventTo>cetp://"
                   "127.0.0.1:%d</EVT:EventTo><EVT:Topic>%s</EVT:Topic></EVT:Subscription>"
                   "</EVT:Subscribe>",
                   port, topic);
    return event_service(r, op, NULL) ? 1 : 0;
}

static void unsubscribe(const struct run *r, int port)
{
    char op[1024];

    (void)snprintf(op, sizeof(op),
                   "<EVT:Unsubscribe>" CONTEXT_XML "<EVT:EventTo>cetp://127.0.0.1:%d"
                   "</EVT:EventTo></EVT:Unsubscribe>",
                   port);
    (void)event_service(r, op, NULL);
}

/* ---- setup through the management and control APIs --------------------------------------- */

/* A quiet request: true on 2xx (or on allowed, e.g. 409 for "exists"). */
static bool quiet(struct http_client *c, const char *method, const char *path, json_t *body,
                  long allowed, json_t **ret_body)
{
    struct http_result res;
    bool ok;

    if (http_request(c, method, path, body, 10000, &res) < 0) {
        json_decref(body);
        return false;
    }
    ok = res.fail == HTTP_FAIL_NONE && (res.status / 100 == 2 || res.status == allowed);
    if (ret_body) {
        *ret_body = res.body;
        res.body = NULL;
    }
    http_result_done(&res);
    json_decref(body);
    return ok;
}

static bool text_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static bool listed(const json_t *list, const char *id)
{
    const json_t *v;
    size_t i;

    json_array_foreach(list, i, v)
    {
        if (text_is(v, id) || (json_array_size(v) == 2 && text_is(json_array_get(v, 0), "m1") &&
                               text_is(json_array_get(v, 1), id)))
            return true;
    }
    return false;
}

/* Adds the workplaces ws1..wsN of mandant m1 that the info model lacks. Returns how many, or
 * -1 after reporting a failure. */
static int add_workplaces(struct http_client *c, int n, bool say)
{
    json_t *model = NULL;
    int added = 0;

    if (!quiet(c, "GET", "/api/v1/infomodel", NULL, 0, &model)) {
        konctl_error("cannot read the info model (GET /api/v1/infomodel)");
        json_decref(model);
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        const json_t *pairs =
            json_object_get(json_object_get(model, "relations"), "mandant-workplace");
        char id[16];
        bool have, related;
        (void)snprintf(id, sizeof(id), "ws%d", i);
        have = listed(json_object_get(model, "workplaces"), id);
        related = listed(pairs, id);
        if ((!have && !quiet(c, "POST", "/api/v1/infomodel/workplace", json_pack("{s:s}", "id", id),
                             409, NULL)) ||
            (!related &&
             !quiet(c, "POST", "/api/v1/infomodel/relations",
                    json_pack("{s:s,s:s,s:s}", "relation", "mandant-workplace", "a", "m1", "b", id),
                    409, NULL))) {
            konctl_error("could not add workplace %s to mandant m1", id);
            json_decref(model);
            return -1;
        }
        added += !have;
    }
    json_decref(model);
    if (say && added)
        (void)fprintf(stderr, "scenario: added %d workplaces to mandant m1\n", added);
    return added;
}

/* Is LOG_SUCCESSFUL_CRYPTO_OPS Enabled? A connector that does not answer within timeout_ms
 * leaves it as it was (prev), so the per-second figures keep their pace. */
static bool crypto_setting_on(struct http_client *c, long timeout_ms, bool prev)
{
    struct http_result res;
    bool on = prev;

    if (http_request(c, "GET", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS", NULL, timeout_ms,
                     &res) < 0)
        return prev;
    if (res.fail == HTTP_FAIL_NONE && res.status == 200)
        on = text_is(json_object_get(res.body, "value"), "Enabled");
    http_result_done(&res);
    return on;
}

/* ---- the run ---------------------------------------------------------------------------- */

struct scenario_opts {
    uint64_t workplaces, seconds, storm, interval_ms, timeout_ms;
    bool crypto_ops;
    const char *soap_url;
};

static bool number(const char *name, const char *value, uint64_t min, uint64_t max, uint64_t *ret)
{
    if (!value)
        return true;
    if (args_uint_parse(value, max, ret) == 0 && *ret >= min)
        return true;
    konctl_error("--%s takes a whole number from %llu to %llu, not '%s'", name,
                 (unsigned long long)min, (unsigned long long)max, value);
    return false;
}

static void print_second(FILE *f, int t, json_t *soap, json_t *mgmt, uint64_t events)
{
    char *sp = out_json_text(json_object_get(soap, "p99_ms"));
    char *mp = out_json_text(json_object_get(mgmt, "p99_ms"));

    (void)fprintf(f,
                  "%4ds  soap %4lld req p99 %8s ms  t/o %3lld err %3lld   mgmt %4lld req p99 "
                  "%8s ms  t/o %3lld err %3lld   events %llu\n",
                  t, (long long)json_integer_value(json_object_get(soap, "requests")),
                  sp ? sp : "-", (long long)json_integer_value(json_object_get(soap, "timeouts")),
                  (long long)json_integer_value(json_object_get(soap, "errors")),
                  (long long)json_integer_value(json_object_get(mgmt, "requests")), mp ? mp : "-",
                  (long long)json_integer_value(json_object_get(mgmt, "timeouts")),
                  (long long)json_integer_value(json_object_get(mgmt, "errors")),
                  (unsigned long long)events);
    free(sp);
    free(mp);
}

static void print_total(FILE *f, const char *name, const json_t *s)
{
    char *p50 = out_json_text(json_object_get(s, "p50_ms"));
    char *p99 = out_json_text(json_object_get(s, "p99_ms"));
    char *max = out_json_text(json_object_get(s, "max_ms"));

    (void)fprintf(f,
                  "%-11s %6lld requests  p50 %s ms  p99 %s ms  max %s ms  timeouts %lld  "
                  "errors %lld\n",
                  name, (long long)json_integer_value(json_object_get(s, "requests")),
                  p50 ? p50 : "-", p99 ? p99 : "-", max ? max : "-",
                  (long long)json_integer_value(json_object_get(s, "timeouts")),
                  (long long)json_integer_value(json_object_get(s, "errors")));
    free(p50);
    free(p99);
    free(max);
}

static int practice(struct konctl *k, const struct scenario_opts *o)
{
    struct run r = {.soap_url = o->soap_url,
                    .mgmt_url = k->url,
                    .user = k->user,
                    .password = k->password,
                    .cacert = k->cacert,
                    .insecure = k->insecure,
                    .interval_ms = (long)o->interval_ms,
                    .timeout_ms = (long)o->timeout_ms,
                    .sink_fd = -1};
    struct http_config cfg = {.url = k->url,
                              .user = k->user,
                              .password = k->password,
                              .cacert = k->cacert,
                              .insecure = k->insecure,
                              .connect_timeout_ms = 5000};
    struct workplace *w = calloc(o->workplaces, sizeof(*w));
    struct http_client *c = http_client_new(&cfg);
    json_t *seconds = json_array(), *report = NULL;
    size_t from[KIND_MAX] = {0, 0};
    uint64_t to_before[KIND_MAX] = {0, 0}, err_before[KIND_MAX] = {0, 0}, events_before = 0;
    pthread_t sink;
    bool sink_started = false, storm_started = false;
    int port, subscribed = 0, rc = KONCTL_EXIT_ERROR;
    size_t started = 0;

    (void)pthread_mutex_init(&r.lock, NULL);
    if (!w || !c || !seconds) {
        konctl_error("out of memory");
        goto out;
    }
    if (add_workplaces(c, (int)o->workplaces, !k->json) < 0)
        goto out;
    if (o->crypto_ops && !quiet(c, "PUT", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS",
                                json_pack("{s:s}", "value", "Enabled"), 0, NULL)) {
        konctl_error("could not enable LOG_SUCCESSFUL_CRYPTO_OPS");
        goto out;
    }
    atomic_store(&r.crypto_on, o->crypto_ops);
    port = sink_open(&r);
    if (port > 0 && pthread_create(&sink, NULL, sink_main, &r) == 0) {
        sink_started = true;
        subscribed = subscribe(&r, port, "CARD") + subscribe(&r, port, "OPERATIONAL_STATE");
    }
    if (o->storm) {
        storm_started =
            quiet(c, "POST", "/control/v1/fault/flood",
                  json_pack("{s:s,s:I,s:I,s:b}", "topic", "NK/FIREWALL/DROP", "rate",
                            (json_int_t)o->storm, "seconds", (json_int_t)o->seconds, "distinct", 1),
                  0, NULL);
        if (!storm_started)
            konctl_error("the storm (control API flood) could not be started");
    }
    r.end_ms = clock_real_mono_ms() + (int64_t)o->seconds * 1000;
    for (started = 0; started < o->workplaces; started++) {
        w[started] = (struct workplace){.run = &r, .n = (int)started + 1};
        if (pthread_create(&w[started].thread, NULL, workplace_main, &w[started]) != 0)
            break;
    }
    for (int t = 1; clock_real_mono_ms() < r.end_ms + r.timeout_ms; t++) {
        int64_t tick = r.end_ms - (int64_t)o->seconds * 1000 + (int64_t)t * 1000;
        int64_t now = clock_real_mono_ms();
        json_t *fig[KIND_MAX];
        uint64_t ev;
        if (tick > now) {
            struct timespec ts = {.tv_sec = (time_t)((tick - now) / 1000),
                                  .tv_nsec = (long)((tick - now) % 1000) * 1000000L};
            (void)nanosleep(&ts, NULL);
        }
        if (o->crypto_ops)
            atomic_store(&r.crypto_on, crypto_setting_on(c, 300, atomic_load(&r.crypto_on)));
        (void)pthread_mutex_lock(&r.lock);
        for (int i = 0; i < KIND_MAX; i++) {
            fig[i] = figures(r.s[i].ms, from[i], r.s[i].n, r.s[i].timeouts - to_before[i],
                             r.s[i].errors - err_before[i]);
            from[i] = r.s[i].n;
            to_before[i] = r.s[i].timeouts;
            err_before[i] = r.s[i].errors;
        }
        (void)pthread_mutex_unlock(&r.lock);
        ev = atomic_load(&r.events);
        if (!k->json && fig[KIND_SOAP] && fig[KIND_MGMT])
            print_second(stdout, t, fig[KIND_SOAP], fig[KIND_MGMT], ev - events_before);
        (void)json_array_append_new(seconds, json_pack("{s:i,s:o*,s:o*,s:I}", "t", t, "soap",
                                                       fig[KIND_SOAP], "management", fig[KIND_MGMT],
                                                       "events", (json_int_t)(ev - events_before)));
        events_before = ev;
        if (clock_real_mono_ms() >= r.end_ms)
            break;
    }
    atomic_store(&r.stop, true);
    for (size_t i = 0; i < started; i++)
        (void)pthread_join(w[i].thread, NULL);
    if (subscribed)
        unsubscribe(&r, port);
    if (sink_started)
        (void)pthread_join(sink, NULL);
    report = json_pack("{s:I,s:I,s:I,s:b,s:b,s:I,s:o*,s:o*,s:I,s:I,s:I,s:O}", "workplaces",
                       (json_int_t)o->workplaces, "seconds", (json_int_t)o->seconds, "storm_rate",
                       (json_int_t)o->storm, "storm_started", storm_started, "crypto_ops",
                       o->crypto_ops, "subscriptions", (json_int_t)subscribed, "soap",
                       figures(r.s[KIND_SOAP].ms, 0, r.s[KIND_SOAP].n, r.s[KIND_SOAP].timeouts,
                               r.s[KIND_SOAP].errors),
                       "management",
                       figures(r.s[KIND_MGMT].ms, 0, r.s[KIND_MGMT].n, r.s[KIND_MGMT].timeouts,
                               r.s[KIND_MGMT].errors),
                       "events_received", (json_int_t)atomic_load(&r.events), "crypto_ops_logged",
                       (json_int_t)atomic_load(&r.crypto_logged), "interval_ms",
                       (json_int_t)o->interval_ms, "per_second", seconds);
    if (!report) {
        konctl_error("out of memory");
        goto out;
    }
    if (k->json) {
        (void)out_json_print(stdout, report);
    } else {
        (void)printf("\n%llu workplaces for %llu s%s%s, events received %llu\n",
                     (unsigned long long)o->workplaces, (unsigned long long)o->seconds,
                     storm_started ? ", storm on" : "", o->crypto_ops ? ", crypto ops logged" : "",
                     (unsigned long long)atomic_load(&r.events));
        print_total(stdout, "SOAP", json_object_get(report, "soap"));
        print_total(stdout, "management", json_object_get(report, "management"));
    }
    rc = KONCTL_EXIT_OK;
out:
    if (r.sink_fd >= 0)
        (void)close(r.sink_fd);
    for (int i = 0; i < KIND_MAX; i++)
        free(r.s[i].ms);
    (void)pthread_mutex_destroy(&r.lock);
    json_decref(report);
    json_decref(seconds);
    http_client_free(c);
    free(w);
    return rc;
}

static int scenario_practice(struct konctl *k, int argc, char **argv)
{
    struct args_opt opts[] = {{"workplaces", true, NULL}, {"seconds", true, NULL},
                              {"storm", true, NULL},      {"crypto-ops", false, NULL},
                              {"soap", true, NULL},       {"interval", true, NULL},
                              {"timeout", true, NULL}};
    struct scenario_opts o = {.workplaces = 0,
                              .seconds = 10,
                              .interval_ms = INTERVAL_MS_DEFAULT,
                              .timeout_ms = TIMEOUT_MS_DEFAULT};
    struct args a;
    int r;

    if (!args_command(k, argc, argv, opts, ARRAY_SIZE(opts), 0, 0, scenario_usage, &a, &r))
        return r;
    if (!opts[0].value) {
        konctl_error("--workplaces N is needed (1 to %d)", WORKPLACES_MAX);
        return KONCTL_EXIT_USAGE;
    }
    if (!number("workplaces", opts[0].value, 1, WORKPLACES_MAX, &o.workplaces) ||
        !number("seconds", opts[1].value, 1, SECONDS_MAX, &o.seconds) ||
        !number("storm", opts[2].value, 0, 100000, &o.storm) ||
        !number("interval", opts[5].value, 10, 60000, &o.interval_ms) ||
        !number("timeout", opts[6].value, 100, 60000, &o.timeout_ms))
        return KONCTL_EXIT_USAGE;
    o.crypto_ops = opts[3].value != NULL;
    o.soap_url = opts[4].value ? opts[4].value : getenv("KONCTL_SOAP_URL");
    if (!o.soap_url || !o.soap_url[0])
        o.soap_url = SOAP_URL_DEFAULT;
    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    return practice(k, &o);
}

int cmd_scenario(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"practice"};
    int shift = 0;
    int r;
    int i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, scenario_usage, &shift, &r);

    switch (i) {
    case 0:
        return scenario_practice(k, argc - shift, argv + shift);
    default:
        return r;
    }
}
