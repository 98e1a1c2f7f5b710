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
 *     setting with --crypto-ops) and says so; it never removes anything.
 *  4. The load (scenario.h) keeps every request with its start and end; "practice" cuts it into
 *     seconds, "2020-ehealth-update" (cmd_scenario_2020.c) into phases around a core restart. */
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
#include "scenario.h"

#define WORKPLACES_MAX 200
#define SECONDS_MAX 3600
#define INTERVAL_MS_DEFAULT 1000
#define TIMEOUT_MS_DEFAULT 2000
#define CETP_FRAME_MAX (1024 * 1024)

static const char scenario_usage[] =
    "usage: konctl scenario practice --workplaces N [--seconds S] [--storm RATE]\n"
    "                                [--crypto-ops] [--soap URL] [--interval MS]\n"
    "                                [--timeout MS] [--json]\n"
    "       konctl scenario 2020-ehealth-update [OPTIONS]   (--help for its options)\n"
    "\n"
    "A simulated practice: N workplaces (ws1..wsN of mandant m1, client system cs1; missing\n"
    "ones are added) poll GetCards and the management status every --interval ms (default\n"
    "1000), the practice subscribes to CARD and OPERATIONAL_STATE events with a CETP sink,\n"
    "and --storm RATE runs the 2020 storm (RATE distinct firewall drops per second through\n"
    "the control API). --crypto-ops enables LOG_SUCCESSFUL_CRYPTO_OPS and writes a\n"
    "LOG/CRYPTO_OP record per poll while it stays enabled. Prints p50/p99/max latency,\n"
    "timeouts and errors per second and in total (--json: the totals and the seconds).\n"
    "  --soap URL      the LAN interface (KONCTL_SOAP_URL; default " SCENARIO_SOAP_URL_DEFAULT ")\n"
    "  --timeout MS    each request's timeout (default 2000)\n";

/* ---- samples ---------------------------------------------------------------------------- */

struct series {
    struct scenario_sample *v;
    size_t n, cap;
};

struct run {
    const char *soap_url, *mgmt_url, *user, *password, *cacert;
    bool insecure;
    long interval_ms, timeout_ms;
    int64_t end_ms;
    pthread_mutex_t lock;
    struct series s[SCENARIO_KIND_MAX];
    atomic_bool crypto_on;
    atomic_bool stop;
    atomic_ullong crypto_logged, events;
    int sink_fd;
};

static void sample(struct run *r, enum scenario_kind k, const struct scenario_sample *x)
{
    struct series *s = &r->s[k];

    (void)pthread_mutex_lock(&r->lock);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct scenario_sample *p = realloc(s->v, cap * sizeof(*p));
        if (p) {
            s->v = p;
            s->cap = cap;
        }
    }
    if (s->n < s->cap)
        s->v[s->n++] = *x;
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

json_t *scenario_figures(const struct scenario_sample *s, size_t n,
                         bool (*pick)(const struct scenario_sample *s, void *arg), void *arg)
{
    uint64_t count[SCENARIO_OUTCOME_MAX] = {0};
    double *v = n ? malloc(n * sizeof(*v)) : NULL;
    size_t m = 0;
    json_t *o;

    if (n && !v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (pick && !pick(&s[i], arg))
            continue;
        v[m++] = s[i].ms;
        count[s[i].outcome]++;
    }
    qsort(v, m, sizeof(*v), cmp_double);
    o = json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "requests", (json_int_t)m, "ok",
                  (json_int_t)count[SCENARIO_OK], "timeouts", (json_int_t)count[SCENARIO_TIMEOUT],
                  "errors", (json_int_t)count[SCENARIO_ERROR], "p50_ms", quantile(v, m, 0.5),
                  "p99_ms", quantile(v, m, 0.99), "max_ms", quantile(v, m, 1.0));
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
static void timed(struct run *r, CURL *h, enum scenario_kind k, bool soap)
{
    char head[1024] = "";
    curl_off_t us = 0;
    long status = 0;
    CURLcode rc;
    struct scenario_sample x = {.start_ms = clock_real_mono_ms(), .outcome = SCENARIO_OK};

    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, head);
    rc = curl_easy_perform(h);
    x.end_ms = clock_real_mono_ms();
    (void)curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        x.outcome = SCENARIO_TIMEOUT;
    else if (rc != CURLE_OK || status != 200 || (soap && strstr(head, "Fault>")))
        x.outcome = SCENARIO_ERROR;
    if (rc == CURLE_OPERATION_TIMEDOUT && us < r->timeout_ms * 1000)
        us = r->timeout_ms * 1000;
    x.ms = (double)us / 1000.0;
    sample(r, k, &x);
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
        timed(r, soap, SCENARIO_SOAP, true);
        timed(r, mgmt, SCENARIO_MGMT, false);
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

struct http_client *scenario_client_new(const struct konctl *k, long connect_timeout_ms)
{
    struct http_config cfg = {.url = k->url,
                              .user = k->user,
                              .password = k->password,
                              .cacert = k->cacert,
                              .insecure = k->insecure,
                              .connect_timeout_ms = connect_timeout_ms};

    return http_client_new(&cfg);
}

bool scenario_request(struct http_client *c, const char *method, const char *path, json_t *body,
                      long allowed, long timeout_ms, json_t **ret_body)
{
    struct http_result res;
    bool ok;

    if (http_request(c, method, path, body, timeout_ms, &res) < 0) {
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

/* A quiet setup request with 10 s to answer. */
static bool quiet(struct http_client *c, const char *method, const char *path, json_t *body,
                  long allowed, json_t **ret_body)
{
    return scenario_request(c, method, path, body, allowed, 10000, ret_body);
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

/* ---- the load --------------------------------------------------------------------------- */

struct scenario_load {
    struct run r;
    struct http_client *c;
    struct workplace *w;
    size_t started;
    pthread_t sink;
    bool sink_started, storm_started, crypto_ops;
    int port, subscribed;
    uint64_t storm;
};

bool scenario_number(const char *name, const char *value, uint64_t min, uint64_t max, uint64_t *ret)
{
    if (!value)
        return true;
    if (args_uint_parse(value, max, ret) == 0 && *ret >= min)
        return true;
    konctl_error("--%s takes a whole number from %llu to %llu, not '%s'", name,
                 (unsigned long long)min, (unsigned long long)max, value);
    return false;
}

static bool storm_start(struct scenario_load *l, uint64_t seconds)
{
    return quiet(l->c, "POST", "/control/v1/fault/flood",
                 json_pack("{s:s,s:I,s:I,s:b}", "topic", "NK/FIREWALL/DROP", "rate",
                           (json_int_t)l->storm, "seconds", (json_int_t)seconds, "distinct", 1),
                 0, NULL);
}

struct scenario_load *scenario_load_start(const struct konctl *k, const struct scenario_opts *o,
                                          int64_t end_ms)
{
    struct scenario_load *l = calloc(1, sizeof(*l));

    if (!l) {
        konctl_error("out of memory");
        return NULL;
    }
    l->r = (struct run){.soap_url = o->soap_url,
                        .mgmt_url = k->url,
                        .user = k->user,
                        .password = k->password,
                        .cacert = k->cacert,
                        .insecure = k->insecure,
                        .interval_ms = (long)o->interval_ms,
                        .timeout_ms = (long)o->timeout_ms,
                        .end_ms = end_ms,
                        .sink_fd = -1};
    (void)pthread_mutex_init(&l->r.lock, NULL);
    l->storm = o->storm;
    l->crypto_ops = o->crypto_ops;
    l->w = calloc(o->workplaces, sizeof(*l->w));
    l->c = scenario_client_new(k, 5000);
    if (!l->w || !l->c) {
        konctl_error("out of memory");
        return scenario_load_stop(l);
    }
    if (add_workplaces(l->c, (int)o->workplaces, !k->json) < 0)
        return scenario_load_stop(l);
    if (o->crypto_ops && !quiet(l->c, "PUT", "/api/v1/settings/LOG_SUCCESSFUL_CRYPTO_OPS",
                                json_pack("{s:s}", "value", "Enabled"), 0, NULL)) {
        konctl_error("could not enable LOG_SUCCESSFUL_CRYPTO_OPS");
        return scenario_load_stop(l);
    }
    atomic_store(&l->r.crypto_on, o->crypto_ops);
    l->port = sink_open(&l->r);
    if (l->port > 0 && pthread_create(&l->sink, NULL, sink_main, &l->r) == 0) {
        l->sink_started = true;
        l->subscribed =
            subscribe(&l->r, l->port, "CARD") + subscribe(&l->r, l->port, "OPERATIONAL_STATE");
    }
    if (o->storm) {
        l->storm_started = storm_start(l, o->seconds);
        if (!l->storm_started)
            konctl_error("the storm (control API flood) could not be started");
    }
    for (l->started = 0; l->started < o->workplaces; l->started++) {
        struct workplace *w = &l->w[l->started];
        *w = (struct workplace){.run = &l->r, .n = (int)l->started + 1};
        if (pthread_create(&w->thread, NULL, workplace_main, w) != 0)
            break;
    }
    return l;
}

void scenario_load_tick(struct scenario_load *l)
{
    if (l->crypto_ops)
        atomic_store(&l->r.crypto_on, crypto_setting_on(l->c, 300, atomic_load(&l->r.crypto_on)));
}

bool scenario_load_renew(struct scenario_load *l, uint64_t seconds)
{
    bool storm = l->storm && storm_start(l, seconds);

    if (l->sink_started)
        l->subscribed +=
            subscribe(&l->r, l->port, "CARD") + subscribe(&l->r, l->port, "OPERATIONAL_STATE");
    return storm;
}

size_t scenario_load_samples(struct scenario_load *l, enum scenario_kind kind, size_t from,
                             struct scenario_sample **ret, size_t *ret_next)
{
    struct series *s = &l->r.s[kind];
    size_t n = 0;

    *ret = NULL;
    (void)pthread_mutex_lock(&l->r.lock);
    if (from < s->n && (*ret = malloc((s->n - from) * sizeof(**ret))) != NULL) {
        n = s->n - from;
        memcpy(*ret, s->v + from, n * sizeof(**ret));
    }
    *ret_next = *ret ? s->n : from;
    (void)pthread_mutex_unlock(&l->r.lock);
    return n;
}

json_t *scenario_load_counts(struct scenario_load *l)
{
    return json_pack("{s:b,s:I,s:I,s:I}", "storm_started", l->storm_started, "subscriptions",
                     (json_int_t)l->subscribed, "events_received",
                     (json_int_t)atomic_load(&l->r.events), "crypto_ops_logged",
                     (json_int_t)atomic_load(&l->r.crypto_logged));
}

struct scenario_load *scenario_load_stop(struct scenario_load *l)
{
    if (!l)
        return NULL;
    atomic_store(&l->r.stop, true);
    for (size_t i = 0; i < l->started; i++)
        (void)pthread_join(l->w[i].thread, NULL);
    if (l->subscribed)
        unsubscribe(&l->r, l->port);
    if (l->sink_started)
        (void)pthread_join(l->sink, NULL);
    if (l->r.sink_fd >= 0)
        (void)close(l->r.sink_fd);
    for (int i = 0; i < SCENARIO_KIND_MAX; i++)
        free(l->r.s[i].v);
    (void)pthread_mutex_destroy(&l->r.lock);
    http_client_free(l->c);
    free(l->w);
    free(l);
    return NULL;
}

/* ---- scenario practice ------------------------------------------------------------------ */

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

void scenario_figures_print(FILE *f, const char *name, const json_t *s)
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

/* The figures of kind's samples since *from (advanced past them); NULL when out of memory. */
static json_t *figures_since(struct scenario_load *l, enum scenario_kind kind, size_t *from)
{
    struct scenario_sample *v = NULL;
    size_t n = scenario_load_samples(l, kind, *from, &v, from);
    json_t *fig = scenario_figures(v, n, NULL, NULL);

    free(v);
    return fig;
}

static int practice(struct konctl *k, const struct scenario_opts *o)
{
    int64_t start = clock_real_mono_ms(), end = start + (int64_t)o->seconds * 1000;
    struct scenario_load *l = scenario_load_start(k, o, end);
    json_t *seconds = json_array(), *report = NULL, *counts = NULL;
    json_t *total[SCENARIO_KIND_MAX] = {NULL, NULL};
    size_t from[SCENARIO_KIND_MAX] = {0, 0}, all[SCENARIO_KIND_MAX] = {0, 0};
    uint64_t events_before = 0;
    int rc = KONCTL_EXIT_ERROR;

    if (!l || !seconds)
        goto out;
    for (int t = 1; clock_real_mono_ms() < end + (int64_t)o->timeout_ms; t++) {
        int64_t tick = start + (int64_t)t * 1000, now = clock_real_mono_ms();
        json_t *fig[SCENARIO_KIND_MAX];
        uint64_t ev;
        if (tick > now) {
            struct timespec ts = {.tv_sec = (time_t)((tick - now) / 1000),
                                  .tv_nsec = (long)((tick - now) % 1000) * 1000000L};
            (void)nanosleep(&ts, NULL);
        }
        scenario_load_tick(l);
        for (int i = 0; i < SCENARIO_KIND_MAX; i++)
            fig[i] = figures_since(l, (enum scenario_kind)i, &from[i]);
        counts = scenario_load_counts(l);
        ev = (uint64_t)json_integer_value(json_object_get(counts, "events_received"));
        json_decref(counts);
        counts = NULL;
        if (!k->json && fig[SCENARIO_SOAP] && fig[SCENARIO_MGMT])
            print_second(stdout, t, fig[SCENARIO_SOAP], fig[SCENARIO_MGMT], ev - events_before);
        (void)json_array_append_new(seconds,
                                    json_pack("{s:i,s:o*,s:o*,s:I}", "t", t, "soap",
                                              fig[SCENARIO_SOAP], "management", fig[SCENARIO_MGMT],
                                              "events", (json_int_t)(ev - events_before)));
        events_before = ev;
        if (clock_real_mono_ms() >= end)
            break;
    }
    counts = scenario_load_counts(l);
    total[SCENARIO_SOAP] = figures_since(l, SCENARIO_SOAP, &all[SCENARIO_SOAP]);
    total[SCENARIO_MGMT] = figures_since(l, SCENARIO_MGMT, &all[SCENARIO_MGMT]);
    l = scenario_load_stop(l);
    report = json_pack("{s:I,s:I,s:I,s:O,s:b,s:O,s:o*,s:o*,s:O,s:O,s:I,s:O}", "workplaces",
                       (json_int_t)o->workplaces, "seconds", (json_int_t)o->seconds, "storm_rate",
                       (json_int_t)o->storm, "storm_started",
                       json_object_get(counts, "storm_started"), "crypto_ops", o->crypto_ops,
                       "subscriptions", json_object_get(counts, "subscriptions"), "soap",
                       total[SCENARIO_SOAP], "management", total[SCENARIO_MGMT], "events_received",
                       json_object_get(counts, "events_received"), "crypto_ops_logged",
                       json_object_get(counts, "crypto_ops_logged"), "interval_ms",
                       (json_int_t)o->interval_ms, "per_second", seconds);
    if (!report) {
        konctl_error("out of memory");
        goto out;
    }
    if (k->json) {
        (void)out_json_print(stdout, report);
    } else {
        (void)printf("\n%llu workplaces for %llu s%s%s, events received %lld\n",
                     (unsigned long long)o->workplaces, (unsigned long long)o->seconds,
                     json_is_true(json_object_get(counts, "storm_started")) ? ", storm on" : "",
                     o->crypto_ops ? ", crypto ops logged" : "",
                     (long long)json_integer_value(json_object_get(counts, "events_received")));
        scenario_figures_print(stdout, "SOAP", json_object_get(report, "soap"));
        scenario_figures_print(stdout, "management", json_object_get(report, "management"));
    }
    rc = KONCTL_EXIT_OK;
out:
    (void)scenario_load_stop(l);
    json_decref(report);
    json_decref(counts);
    json_decref(seconds);
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
    if (!scenario_number("workplaces", opts[0].value, 1, WORKPLACES_MAX, &o.workplaces) ||
        !scenario_number("seconds", opts[1].value, 1, SECONDS_MAX, &o.seconds) ||
        !scenario_number("storm", opts[2].value, 0, 100000, &o.storm) ||
        !scenario_number("interval", opts[5].value, 10, 60000, &o.interval_ms) ||
        !scenario_number("timeout", opts[6].value, 100, 60000, &o.timeout_ms))
        return KONCTL_EXIT_USAGE;
    o.crypto_ops = opts[3].value != NULL;
    o.soap_url = opts[4].value ? opts[4].value : getenv("KONCTL_SOAP_URL");
    if (!o.soap_url || !o.soap_url[0])
        o.soap_url = SCENARIO_SOAP_URL_DEFAULT;
    r = konctl_open(k);
    if (r != KONCTL_EXIT_OK)
        return r;
    return practice(k, &o);
}

int cmd_scenario(struct konctl *k, int argc, char **argv)
{
    static const char *const names[] = {"practice", "2020-ehealth-update"};
    int shift = 0;
    int r;
    int i = args_subcommand(argc, argv, names, ARRAY_SIZE(names), NULL, scenario_usage, &shift, &r);

    switch (i) {
    case 0:
        return scenario_practice(k, argc - shift, argv + shift);
    case 1:
        return scenario_2020(k, argc - shift, argv + shift);
    default:
        return r;
    }
}
