/* sotto-load idle, register and free-port. */
#include "load.h"

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static bool never(void)
{
    return false;
}

int run_register(void)
{
    g_ncl = O.clients;
    g_cl = xmalloc(sizeof *g_cl * g_ncl);
    g_setup_total = g_ncl;
    g_setup_list = xmalloc(sizeof *g_setup_list * g_setup_total);
    for (uint32_t i = 0; i < g_ncl; i++) {
        g_cl[i].idx = i;
        g_cl[i].http.cl = &g_cl[i];
        g_cl[i].http.account = i;
        g_cl[i].http.fd = -1;
        g_setup_list[i] = &g_cl[i].http;
    }
    uint64_t t0 = now_ns();
    start_next_setups();
    bool ok = run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    double s = (double)(now_ns() - t0) / 1e9;
    printf("register accounts=%" PRIu32 " new=%" PRIu64 " present=%" PRIu64 " failed=%" PRIu32
           " seconds=%.1f per_s=%.1f%s\n", O.clients, g_reg_ok, g_reg_taken, g_failed, s,
           s > 0 ? (double)g_reg_ok / s : 0.0, ok ? "" : " TIMEOUT");
    return ok && g_failed == 0 ? 0 : 1;
}

int run_idle(void)
{
    conn *cs = xmalloc(sizeof *cs * O.conns);
    g_setup_total = O.conns;
    g_setup_list = xmalloc(sizeof *g_setup_list * O.conns);
    uint32_t acc = O.ws ? O.conns : O.accounts;
    for (uint32_t i = 0; i < O.conns; i++) {
        cs[i].fd = -1;
        cs[i].is_ws = O.ws;
        cs[i].account = i % acc;
        g_setup_list[i] = &cs[i];
    }
    long before = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    uint64_t t0 = now_ns();
    /* half first, then the rest: the growth between the two is the marginal
     * cost of a connection, free of one-time growth (SQLite page caches, the
     * allocator's arenas, libuv's pool stacks) */
    g_setup_total = O.conns / 2;
    start_next_setups();
    bool ok = run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    uint64_t hold_mid = now_ns() + (uint64_t)O.hold_s * 1000000000u;
    run_until(never, hold_mid);
    long mid = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    g_setup_total = O.conns;
    start_next_setups();
    ok = ok && run_until(setups_done, t0 + (uint64_t)O.timeout_s * 1000000000u);
    double setup_s = (double)(now_ns() - t0) / 1e9;
    progress_setup("idle", t0);
    /* settle (answer pings meanwhile) */
    uint64_t hold_end = now_ns() + (uint64_t)O.hold_s * 1000000000u;
    run_until(never, hold_end);
    if (O.on_end != NULL && system(O.on_end) != 0) /* connections still open */
        fprintf(stderr, "sotto-load: --on-end command failed\n");
    long after = O.server_pid > 0 ? rss_kib(O.server_pid) : -1;
    uint32_t open = 0;
    for (uint32_t i = 0; i < O.conns; i++)
        open += cs[i].state == CS_READY;
    double per = open > 0 && before >= 0 ? (double)(after - before) * 1024.0 / open : 0.0;
    uint32_t second = O.conns - O.conns / 2;
    double marginal = second > 0 && mid >= 0 ? (double)(after - mid) * 1024.0 / second : 0.0;
    printf("idle kind=%s conns=%" PRIu32 " open=%" PRIu32 " failed=%" PRIu32 " setup_s=%.1f"
           " rss_before_kib=%ld rss_half_kib=%ld rss_after_kib=%ld bytes_per_conn=%.0f"
           " marginal_bytes_per_conn=%.0f%s\n",
           O.ws ? "websocket" : O.health ? "tls-health" : "http-auth", O.conns, open, g_failed, setup_s,
           before, mid, after, per, marginal,
           ok ? "" : " TIMEOUT");
    fflush(stdout);
    return ok && open == O.conns ? 0 : 1;
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        die("free-port: %s", strerror(errno));
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

