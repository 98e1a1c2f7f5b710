/* launcher: the boot loader inside konnektord (DESIGN.md section 1). `konnektord` without
 * --core runs this: it starts the core of the active slot as a child
 * (fw/slot-X/core/konnektord --core <the same arguments>) and decides by its fate.
 *
 *            load block ──(not good, tries 0, other slot complete)──> fall back: active =
 *                │                                                   other, good, record why
 *                v
 *   (not good: tries_left-- and save)  spawn_core()
 *                │
 *      "healthy" on the pipe ──> mark_good(): good, tries UPD_TRIES, update done
 *      exit UPD_EXIT_RESTART ──> load block again (an install may have switched)
 *      died / not healthy in time, slot not good ──> record_failure(), next attempt
 *      died, slot good ──> restart after a back-off (1 s doubling to 30 s)
 *      SIGTERM/SIGINT ──> forwarded; the launcher exits with the core's status
 *
 * Invariants:
 *  1. An attempt is counted (tries_left saved) before the core starts, so a launcher killed
 *     during a first boot still counts it: a slot never gets more than UPD_TRIES attempts.
 *  2. The launcher falls back only to a complete slot. With none, attempts are not counted
 *     and no health timeout applies (killing a slow boot cannot make anything better): the
 *     slot is run like a good one, a crash restarts it after a back-off.
 *  3. While a core runs, the launcher writes the block only read-modify-write and only if the
 *     active slot is still the one it started (the core's install may have switched it).
 *  4. The core dies with the launcher (PR_SET_PDEATHSIG SIGTERM). */
#include "update/update_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
/* A core that ran this long (ms) since its start ends a series of crashes: back-off resets. */
#define BACKOFF_RESET_AFTER_MS 60000
#define SELF_EXE "/proc/self/exe"

struct launcher {
    const struct upd_launcher_opts *opts;
    char *fw;
    int sfd; /* signalfd: SIGTERM, SIGINT, SIGCHLD */
    sigset_t old_mask;
    int64_t backoff_ms;
    bool stopping;
    int stop_signal;
};

static int64_t health_timeout(const struct launcher *l)
{
    return l->opts->health_timeout_ms > 0 ? l->opts->health_timeout_ms
                                          : UPD_HEALTH_TIMEOUT_MS_DEFAULT;
}

static void version_of(const char *fw, enum upd_slot slot, char *buf, size_t size)
{
    struct bundle_manifest *m = NULL;

    (void)str_copy(buf, size, "unknown");
    if (upd_slot_manifest_read(fw, slot, &m) == 0)
        (void)str_copy(buf, size, m->fw_version);
    m = bundle_manifest_free(m);
}

static void save(struct launcher *l, const struct upd_bcb *b)
{
    int r = upd_bcb_save(l->fw, b);

    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r, "update: cannot save the boot control block, going on");
}

/* Falls back from the active slot to the other (complete) one and records why. */
static void fall_back(struct launcher *l, struct upd_bcb *b)
{
    enum upd_slot from = b->active;

    b->fallback = true;
    b->fallback_from_slot = from;
    version_of(l->fw, from, b->fallback_from_version, sizeof(b->fallback_from_version));
    (void)snprintf(b->fallback_reason, sizeof(b->fallback_reason), "%s",
                   b->last_failure[0] ? b->last_failure : "did not become healthy");
    b->fallback_time_ms = clock_now_ms();
    b->fallback_reported = false;
    b->active = upd_slot_other(from);
    /* The slot we return to ran before: it is known good (it reported healthy before the
     * switch), so a later crash of it restarts it instead of switching back. */
    b->good = true;
    b->tries_left = UPD_TRIES;
    b->update_pending = false;
    b->last_failure[0] = '\0';
    log_msg(LOG_LEVEL_ERROR,
            "update: slot %s (firmware %s) failed %d boot attempts (%s), falling back to "
            "slot %s",
            upd_slot_to_string(from), b->fallback_from_version, UPD_TRIES, b->fallback_reason,
            upd_slot_to_string(b->active));
    save(l, b);
}

static pid_t spawn_core(struct launcher *l, const char *exe, enum upd_slot slot, int *ret_rfd)
{
    int fds[2];
    pid_t parent = getpid(), pid;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int e = errno;

        (void)close(fds[0]);
        (void)close(fds[1]);
        return -e;
    }
    if (pid == 0) {
        char **argv = calloc((size_t)l->opts->argc + 2, sizeof(char *));
        char num[16];

        /* Invariant 4, and the race where the parent died before prctl. */
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent || !argv)
            _exit(1);
        (void)fcntl(fds[1], F_SETFD, 0);
        (void)snprintf(num, sizeof(num), "%d", fds[1]);
        (void)setenv(UPD_LAUNCHER_FD_ENV, num, 1);
        (void)setenv(UPD__SLOT_ENV, slot < UPD_SLOT_MAX ? upd_slot_to_string(slot) : "", 1);
        argv[0] = (char *)exe;
        argv[1] = (char *)"--core";
        for (int i = 1; i < l->opts->argc; i++)
            argv[i + 1] = l->opts->argv[i];
        (void)sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
        execv(exe, argv);
        (void)fprintf(stderr, "konnektord: cannot start the core '%s': %s\n", exe, strerror(errno));
        _exit(127);
    }
    (void)close(fds[1]);
    *ret_rfd = fds[0];
    return pid;
}

/* The core said "healthy": the slot is good (invariant 3). */
static void mark_good(struct launcher *l, enum upd_slot slot)
{
    struct upd_bcb b;

    (void)upd_bcb_load(l->fw, &b);
    if (b.active != slot || (b.good && !b.update_pending && b.fallback_reported))
        return;
    b.good = true;
    b.tries_left = UPD_TRIES;
    b.last_failure[0] = '\0';
    /* The core reported both before it said healthy (health.c); a committed update ends
     * the situation of an earlier fallback. */
    if (b.update_pending)
        b.fallback = false;
    b.update_pending = false;
    if (b.fallback)
        b.fallback_reported = true;
    save(l, &b);
}

static void record_failure(struct launcher *l, enum upd_slot slot, const char *why)
{
    struct upd_bcb b;

    log_msg(LOG_LEVEL_ERROR, "update: the core of slot %s %s", upd_slot_to_string(slot), why);
    (void)upd_bcb_load(l->fw, &b);
    if (b.active != slot)
        return;
    (void)str_copy(b.last_failure, sizeof(b.last_failure), why);
    save(l, &b);
}

/* Waits up to ms (-1: forever) for a signal; handles SIGTERM/SIGINT by forwarding them. */
struct wait_result {
    bool healthy;
    bool exited;
    bool timed_out;
    int status;
};

static void on_signals(struct launcher *l, pid_t child, struct wait_result *w)
{
    struct signalfd_siginfo si;

    while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            l->stopping = true;
            l->stop_signal = (int)si.ssi_signo;
            if (child > 0)
                (void)kill(child, (int)si.ssi_signo);
        }
    }
    if (child > 0 && !w->exited && waitpid(child, &w->status, WNOHANG) == child)
        w->exited = true;
}

/* Runs one core until it exits; reports healthy as it comes. */
static void supervise(struct launcher *l, pid_t child, int rfd, enum upd_slot slot, bool good,
                      struct wait_result *w)
{
    int64_t start = clock_real_mono_ms();
    char buf[64];

    while (!w->exited) {
        struct pollfd p[2] = {{.fd = l->sfd, .events = POLLIN}, {.fd = rfd, .events = POLLIN}};
        int timeout = -1;

        if (!good && !w->healthy && !w->timed_out) {
            int64_t left = start + health_timeout(l) - clock_real_mono_ms();

            timeout = left > 0 ? (int)left : 0;
        }
        if (poll(p, rfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            on_signals(l, child, w);
        if (rfd >= 0 && p[1].revents) {
            ssize_t n = read(rfd, buf, sizeof(buf) - 1);

            if (n > 0) {
                buf[n] = '\0';
                if (strstr(buf, "healthy") && !w->healthy) {
                    w->healthy = true;
                    mark_good(l, slot);
                }
            } else {
                (void)close(rfd);
                rfd = -1;
            }
        }
        if (!good && !w->healthy && !w->timed_out && !l->stopping &&
            clock_real_mono_ms() - start >= health_timeout(l)) {
            w->timed_out = true;
            (void)kill(child, SIGKILL);
        }
    }
    if (rfd >= 0)
        (void)close(rfd);
    if (clock_real_mono_ms() - start >= BACKOFF_RESET_AFTER_MS)
        l->backoff_ms = 0;
}

/* Sleeps ms unless SIGTERM/SIGINT comes. */
static void pause_ms(struct launcher *l, int64_t ms)
{
    int64_t end = clock_real_mono_ms() + ms;
    struct wait_result w = {0};

    while (!l->stopping) {
        struct pollfd p = {.fd = l->sfd, .events = POLLIN};
        int64_t left = end - clock_real_mono_ms();

        if (left <= 0)
            break;
        if (poll(&p, 1, (int)left) > 0)
            on_signals(l, -1, &w);
    }
}

static int exit_status_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* One boot: pick the slot, count the attempt, run the core. Returns -1 to go on, else the
 * launcher's exit status. */
static int boot_once(struct launcher *l)
{
    struct upd_bcb b;
    struct wait_result w = {0};
    enum upd_slot slot;
    char *dir = NULL, *exe = NULL, why[UPD_REASON_MAX];
    bool good, other_ok;
    int rfd = -1, result = -1;
    pid_t child;

    (void)upd_bcb_load(l->fw, &b);
    if (!upd_slot_is_complete(l->fw, b.active) &&
        upd_slot_is_complete(l->fw, upd_slot_other(b.active))) {
        log_msg(LOG_LEVEL_ERROR, "update: slot %s is not complete, starting slot %s",
                upd_slot_to_string(b.active), upd_slot_to_string(upd_slot_other(b.active)));
        b.active = upd_slot_other(b.active);
        b.good = false;
        b.tries_left = UPD_TRIES;
        b.update_pending = false;
        save(l, &b);
    }
    slot = b.active;
    other_ok = upd_slot_is_complete(l->fw, upd_slot_other(slot));
    /* Invariant 2: with nothing to fall back to, attempts are not counted and a slow boot is
     * not killed: the slot is treated as good (a crash restarts it after a back-off). */
    if (!b.good && other_ok) {
        if (b.tries_left <= 0) {
            fall_back(l, &b);
            return -1;
        }
        b.tries_left--;
        save(l, &b); /* invariant 1 */
    }
    good = b.good || !other_ok;
    dir = upd_slot_dir(l->fw, slot);
    exe = dir ? fs_path_join(dir, UPD__CORE_PATH) : NULL;
    if (!exe)
        return 1;
    if (!upd_slot_is_complete(l->fw, slot)) {
        /* No slot at all (the factory install failed): the launcher's own build runs. */
        free(exe);
        exe = strdup(SELF_EXE);
        slot = UPD_SLOT_MAX;
        good = true;
    }
    child = exe ? spawn_core(l, exe, slot, &rfd) : -ENOMEM;
    if (child < 0) {
        log_errno(LOG_LEVEL_ERROR, (int)child, "update: cannot start the core");
        result = 1;
        goto out;
    }
    supervise(l, child, rfd, slot, good, &w);
    if (!w.exited && waitpid(child, &w.status, 0) == child)
        w.exited = true;
    if (l->stopping) {
        result = exit_status_of(w.status);
        goto out;
    }
    if (WIFEXITED(w.status) && WEXITSTATUS(w.status) == UPD_EXIT_RESTART) {
        l->backoff_ms = 0;
        goto out;
    }
    if (w.timed_out)
        (void)snprintf(why, sizeof(why), "not healthy within %lld s",
                       (long long)(health_timeout(l) / 1000));
    else if (WIFSIGNALED(w.status))
        (void)snprintf(why, sizeof(why), "crashed at boot (signal %d)", WTERMSIG(w.status));
    else
        (void)snprintf(why, sizeof(why), "exited with status %d at boot", exit_status_of(w.status));
    if (!good && !w.healthy) {
        record_failure(l, slot, why);
        goto out;
    }
    if (WIFEXITED(w.status) && (WEXITSTATUS(w.status) == 0 || WEXITSTATUS(w.status) == 2)) {
        result = WEXITSTATUS(w.status);
        goto out;
    }
    /* A good slot that crashed is restarted, not rolled back. */
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (l->backoff_ms > BACKOFF_MAX_MS)
        l->backoff_ms = BACKOFF_MAX_MS;
    log_msg(LOG_LEVEL_ERROR, "update: the core of slot %s %s, restarting in %lld ms",
            upd_slot_to_string(slot), strstr(why, "crashed") ? "crashed" : why,
            (long long)l->backoff_ms);
    pause_ms(l, l->backoff_ms);
    if (l->stopping)
        result = 0; /* stopped while no core ran: a clean stop */
out:
    free(exe);
    free(dir);
    return result;
}

int upd_launcher_run(const struct upd_launcher_opts *opts)
{
    struct launcher l = {.opts = opts, .sfd = -1};
    sigset_t mask;
    int r, result = -1;

    l.fw = upd_fw_dir(opts->data_dir);
    if (!l.fw || fs_mkdir_p(opts->data_dir, 0700) < 0 || fs_mkdir_p(l.fw, 0755) < 0) {
        (void)fprintf(stderr, "konnektord: cannot create '%s'\n", l.fw ? l.fw : opts->data_dir);
        free(l.fw);
        return 1;
    }
    upd_slots_cleanup(l.fw);
    r = upd_slot_install_factory(l.fw, SELF_EXE);
    if (r < 0)
        log_errno(LOG_LEVEL_ERROR, r,
                  "update: cannot install the factory image, running the "
                  "launcher's own build");
    (void)sigemptyset(&mask);
    (void)sigaddset(&mask, SIGTERM);
    (void)sigaddset(&mask, SIGINT);
    (void)sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, &l.old_mask) < 0 ||
        (l.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        (void)fprintf(stderr, "konnektord: launcher: cannot watch signals\n");
        free(l.fw);
        return 1;
    }
    while (result < 0 && !l.stopping)
        result = boot_once(&l);
    if (result < 0)
        result = 128 + l.stop_signal;
    (void)close(l.sfd);
    free(l.fw);
    return result;
}
