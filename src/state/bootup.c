/* bootup: the bootup sequence (TIP1-A_4507, TIP1-A_4508). Steps run one after another on
 * the loop, each under a deadline; a step that fails or misses its deadline raises its
 * error condition and bootup goes on, because bootup must always complete. At the end
 * BOOTUP/BOOTUP_COMPLETE is published (eventType Operation, severity Info).
 *
 * Which steps exist and what they do is main's business; this file only sequences them.
 *
 *   idle --bootup_start()--> step i running --done / fault fail---------> step i+1 ...
 *                                 |       '----deadline_cb() (timeout)--> step i+1 ...
 *                                 '--fault delay: delay_cb() runs it later
 *   after the last step: finish() --> complete (complete(), then BOOTUP_COMPLETE)
 *
 * Invariants:
 *  1. At most one step is current (b->current), and it runs with b->waiting set and its
 *     deadline timer armed; ending it (step_end()) stops its timers, clears waiting and moves
 *     b->current on. Each step ends exactly once: a report for a step that is not current
 *     and waiting (a late report after its deadline) is ignored.
 *  2. steps_run() is the only place that starts steps, and it loops instead of recursing: a
 *     step that reports from inside its run function ends there, and the loop starts the
 *     next. A report from a later loop callback hands over through a zero-delay timer, so
 *     the next step never runs inside a caller's callback.
 *  3. Steps cannot be added once bootup has started, so step pointers stay valid until
 *     bootup_free().
 *  4. finish() runs once: complete() is called, then BOOTUP/BOOTUP_COMPLETE is published
 *     exactly once, with FailedSteps counting the failed and timed-out steps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "state/state.h"

/* A product has a handful of bootup steps; the cap catches a runaway registration. */
#define BOOTUP_STEPS_MAX 64

enum step_fault {
    STEP_FAULT_NONE,
    STEP_FAULT_FAIL,  /* report -EIO instead of running */
    STEP_FAULT_HANG,  /* never run, never report: the deadline fires */
    STEP_FAULT_DELAY, /* run fault_delay_ms late */
};

struct bootup_step {
    char *name;
    int64_t deadline_ms;
    enum ec_id fail_ec;
    char *fail_instance;
    bootup_run_fn run;
    void *arg;
    enum step_fault fault;
    int64_t fault_delay_ms;
};

struct bootup {
    struct ec_state *ecs; /* borrowed */
    struct evt_bus *bus;  /* borrowed */
    struct bootup_step *steps;
    size_t n_steps;
    size_t current; /* index of the current step; n_steps when all ended */
    bool started;
    bool waiting; /* the current step has not ended yet */
    bool in_run;  /* inside the current step's run function */
    bool complete;
    size_t failed;
    struct clock_timer *deadline; /* the current step's deadline */
    struct clock_timer *delay;    /* STEP_FAULT_DELAY */
    struct clock_timer *next;     /* zero-delay hand-over after an asynchronous report */
    bootup_complete_fn complete_fn;
    void *complete_arg;
};

static void steps_run(struct bootup *b);

static struct bootup_step *step_find(struct bootup *b, const char *name)
{
    for (size_t i = 0; i < b->n_steps; i++) {
        if (strcmp(b->steps[i].name, name) == 0)
            return &b->steps[i];
    }
    return NULL;
}

/* Ends the current step with r (0, a negative errno, or -ETIMEDOUT for a missed deadline). */
static void step_end(struct bootup *b, int r)
{
    struct bootup_step *s = &b->steps[b->current];

    clock_timer_stop(b->deadline);
    clock_timer_stop(b->delay);
    b->waiting = false;
    b->current++;
    if (r >= 0)
        return;

    b->failed++;
    if (r == -ETIMEDOUT)
        log_msg(LOG_LEVEL_WARNING, "bootup: step '%s' missed its deadline of %lld ms, continuing",
                s->name, (long long)s->deadline_ms);
    else
        log_errno(LOG_LEVEL_WARNING, r, "bootup: step '%s' failed, continuing", s->name);
    if (s->fail_ec != EC_MAX) {
        /* TIP1-A_4508: bootup completes anyway; the condition tells why the connector is
         * not fully usable. */
        int e = ec_raise(b->ecs, s->fail_ec, s->fail_instance, NULL, 0);

        if (e < 0)
            log_errno(LOG_LEVEL_ERROR, e, "bootup: cannot raise %s for step '%s'",
                      ec_def_get(s->fail_ec)->name, s->name);
    }
}

static void run_current(struct bootup *b)
{
    struct bootup_step *s = &b->steps[b->current];

    b->in_run = true;
    s->run(b, s->arg);
    b->in_run = false;
}

/* Starts the current step; it may end before this returns. */
static void step_begin(struct bootup *b)
{
    struct bootup_step *s = &b->steps[b->current];

    b->waiting = true;
    clock_timer_start(b->deadline, s->deadline_ms);
    log_msg(LOG_LEVEL_DEBUG, "bootup: step '%s' starts", s->name);
    switch (s->fault) {
    case STEP_FAULT_FAIL:
        step_end(b, -EIO);
        break;
    case STEP_FAULT_HANG:
        break;
    case STEP_FAULT_DELAY:
        clock_timer_start(b->delay, s->fault_delay_ms);
        break;
    default:
        run_current(b);
        break;
    }
}

static void finish(struct bootup *b)
{
    char failed[24];
    struct evt_param params[] = {{"FailedSteps", failed}};
    struct evt_event ev = {
        .topic = "BOOTUP/BOOTUP_COMPLETE",
        .type = EVT_TYPE_OPERATION,
        .severity = EVT_SEVERITY_INFO,
        .params = params,
        .n_params = ARRAY_SIZE(params),
    };
    int r;

    if (b->complete)
        return;
    b->complete = true;
    log_msg(LOG_LEVEL_INFO, "bootup: complete, %zu of %zu steps failed", b->failed, b->n_steps);
    if (b->complete_fn)
        b->complete_fn(b, b->complete_arg);
    if (!b->bus)
        return;
    (void)snprintf(failed, sizeof(failed), "%zu", b->failed);
    r = evt_bus_publish(b->bus, &ev);
    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "bootup: cannot publish BOOTUP_COMPLETE");
}

/* Starts steps from b->current on until one keeps waiting, or finishes (invariant 2). */
static void steps_run(struct bootup *b)
{
    while (b->current < b->n_steps) {
        step_begin(b);
        if (b->waiting)
            return;
    }
    finish(b);
}

static void deadline_cb(void *arg)
{
    struct bootup *b = arg;

    if (!b->waiting)
        return;
    step_end(b, -ETIMEDOUT);
    /* A run function that advanced the virtual clock is still on the stack: its caller's
     * loop goes on (invariant 2). */
    if (!b->in_run)
        steps_run(b);
}

static void delay_cb(void *arg)
{
    struct bootup *b = arg;

    if (!b->waiting)
        return;
    run_current(b);
    if (!b->waiting)
        steps_run(b);
}

static void next_cb(void *arg)
{
    steps_run(arg);
}

struct bootup *bootup_new(struct ec_state *ecs, struct evt_bus *bus)
{
    struct bootup *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->ecs = ecs;
    b->bus = bus;
    return b;
}

struct bootup *bootup_free(struct bootup *b)
{
    if (!b)
        return NULL;
    b->deadline = clock_timer_free(b->deadline);
    b->delay = clock_timer_free(b->delay);
    b->next = clock_timer_free(b->next);
    for (size_t i = 0; i < b->n_steps; i++) {
        free(b->steps[i].name);
        free(b->steps[i].fail_instance);
    }
    free(b->steps);
    free(b);
    return NULL;
}

int bootup_add_step(struct bootup *b, const char *name, int64_t deadline_ms, enum ec_id fail_ec,
                    const char *fail_instance, bootup_run_fn run, void *arg)
{
    struct bootup_step *grown = NULL;
    struct bootup_step s = {0};
    int r = 0;

    if (!b || !name || name[0] == '\0' || strchr(name, ':') || deadline_ms <= 0 || !run)
        return -EINVAL;
    if ((unsigned)fail_ec > EC_MAX || (fail_ec == EC_MAX && fail_instance))
        return -EINVAL;
    if (b->started)
        return -EBUSY;
    if (step_find(b, name))
        return -EEXIST;
    if (b->n_steps >= BOOTUP_STEPS_MAX)
        return -ENOSPC;

    s.name = strdup(name);
    if (fail_instance)
        s.fail_instance = strdup(fail_instance);
    if (!s.name || (fail_instance && !s.fail_instance)) {
        r = -ENOMEM;
        goto out;
    }
    s.deadline_ms = deadline_ms;
    s.fail_ec = fail_ec;
    s.run = run;
    s.arg = arg;
    grown = reallocarray(b->steps, b->n_steps + 1, sizeof(*grown));
    if (!grown) {
        r = -ENOMEM;
        goto out;
    }
    b->steps = grown;
    b->steps[b->n_steps++] = s;
    return 0;
out:
    free(s.name);
    free(s.fail_instance);
    return r;
}

int bootup_start(struct bootup *b, bootup_complete_fn complete, void *arg)
{
    if (!b)
        return -EINVAL;
    if (b->started)
        return -EALREADY;
    b->deadline = clock_timer_new(deadline_cb, b);
    b->delay = clock_timer_new(delay_cb, b);
    b->next = clock_timer_new(next_cb, b);
    if (!b->deadline || !b->delay || !b->next) {
        b->deadline = clock_timer_free(b->deadline);
        b->delay = clock_timer_free(b->delay);
        b->next = clock_timer_free(b->next);
        return -ENOMEM;
    }
    b->started = true;
    b->complete_fn = complete;
    b->complete_arg = arg;
    log_msg(LOG_LEVEL_INFO, "bootup: starting %zu steps", b->n_steps);
    steps_run(b);
    return 0;
}

struct bootup_step *bootup_step_current(struct bootup *b)
{
    if (!b || !b->waiting)
        return NULL;
    return &b->steps[b->current];
}

void bootup_step_report(struct bootup *b, struct bootup_step *step, int r)
{
    if (!b || !step || !b->waiting || step != &b->steps[b->current]) {
        /* Invariant 1: the step already ended (its deadline fired); nothing to do. */
        log_msg(LOG_LEVEL_DEBUG, "bootup: late report from step '%s' ignored",
                step ? step->name : "?");
        return;
    }
    step_end(b, r);
    /* From inside run(), steps_run() continues; from a later callback, hand over through a
     * zero-delay timer (invariant 2). */
    if (!b->in_run)
        clock_timer_start(b->next, 0);
}

void bootup_step_done(struct bootup *b, int r)
{
    if (!b || !b->waiting) {
        log_msg(LOG_LEVEL_DEBUG, "bootup: report with no step running ignored");
        return;
    }
    bootup_step_report(b, &b->steps[b->current], r);
}

bool bootup_is_complete(const struct bootup *b)
{
    return b && b->complete;
}

size_t bootup_failed_steps(const struct bootup *b)
{
    return b ? b->failed : 0;
}

int bootup_set_fault(struct bootup *b, const char *spec)
{
    struct bootup_step *s;
    const char *colon;
    char name[128];
    int64_t ms = 0;
    int r;

    if (!b || !spec)
        return -EINVAL;
    colon = strchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(name))
        return -EINVAL;
    memcpy(name, spec, (size_t)(colon - spec));
    name[colon - spec] = '\0';
    s = step_find(b, name);
    if (!s)
        return -ENOENT;
    if (b->started && (size_t)(s - b->steps) < b->current + (b->waiting ? 1 : 0))
        return -EBUSY; /* that step already ran */

    if (strcmp(colon + 1, "fail") == 0) {
        s->fault = STEP_FAULT_FAIL;
    } else if (strcmp(colon + 1, "hang") == 0) {
        s->fault = STEP_FAULT_HANG;
    } else if (strncmp(colon + 1, "delay=", 6) == 0) {
        r = str_to_int64(colon + 7, &ms);
        if (r < 0 || ms < 0)
            return -EINVAL;
        s->fault = STEP_FAULT_DELAY;
        s->fault_delay_ms = ms;
    } else {
        return -EINVAL;
    }
    return 0;
}
