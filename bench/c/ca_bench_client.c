/*
 * The libca side of `npm run bench` against softIoc: one C program, linked
 * against the EPICS bundle's libca (the library caget and camonitor use), so
 * both servers are measured with the same client and without an interpreter
 * in the way. Each mode prints one JSON line on stdout.
 *
 *   ca_bench_client connect-get PREFIX N
 *       ca_create_channel for PREFIX0..PREFIX<N-1>, ca_pend_io; then
 *       ca_array_get(DBR_DOUBLE) for every channel, ca_pend_io. Checks that
 *       channel i reads i.
 *   ca_bench_client put-burst NAME N
 *       N ca_array_put(DBR_DOUBLE) of 1..N to NAME as fast as libca sends
 *       them, then one ca_array_get on the same circuit (it is answered after
 *       every put before it).
 *   ca_bench_client monitor NAME LAST
 *       Subscribes NAME (DBR_DOUBLE, DBE_VALUE), prints {"subscribed":true},
 *       counts updates with a value above 0 until the value LAST arrives or
 *       stdin closes, then waits up to 5 s more for LAST.
 *   ca_bench_client wait NAME TIMEOUT_S
 *       Creates a channel to NAME every 20 ms until one connects and a get
 *       succeeds (the time a starting server takes to serve), at most TIMEOUT_S.
 *
 * The bundle ships no headers and Debian's libca-dev ships none either, so
 * the few declarations of the libca client API (cadef.h, stable since EPICS
 * 3.14) that this program calls are written out below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <stdatomic.h>

typedef struct oldChannelNotify *chid;
typedef struct oldSubscription *evid;
typedef long chtype;
typedef double ca_real;
typedef unsigned capri;

struct event_handler_args {
  void *usr;
  chid chid;
  long type;
  long count;
  const void *dbr;
  int status;
};
typedef void caEventCallBackFunc(struct event_handler_args);
struct connection_handler_args {
  chid chid;
  long op;
};
typedef void caCh(struct connection_handler_args);

enum ca_preemptive_callback_select { ca_disable_preemptive_callback, ca_enable_preemptive_callback };
enum channel_state { cs_never_conn, cs_prev_conn, cs_conn, cs_closed };

extern int ca_context_create(enum ca_preemptive_callback_select select);
extern void ca_context_destroy(void);
extern int ca_create_channel(const char *name, caCh *conn, void *user, capri priority, chid *out);
extern int ca_clear_channel(chid chan);
extern enum channel_state ca_state(chid chan);
extern int ca_array_get(chtype type, unsigned long count, chid chan, void *value);
extern int ca_array_put(chtype type, unsigned long count, chid chan, const void *value);
extern int ca_create_subscription(chtype type, unsigned long count, chid chan, long mask,
                                  caEventCallBackFunc *func, void *arg, evid *out);
extern int ca_pend_io(ca_real timeout);
extern int ca_pend_event(ca_real timeout);
extern int ca_flush_io(void);
extern const char *ca_message(long status);

#define ECA_NORMAL 1
#define DBR_DOUBLE 6
#define DBE_VALUE 1

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, int status) {
  fprintf(stderr, "ca_bench_client: %s: %s\n", what, status ? ca_message(status) : "failed");
  exit(1);
}

static int connect_get(const char *prefix, long n) {
  chid *chans = calloc(n, sizeof *chans);
  double *values = calloc(n, sizeof *values);
  char name[256];
  int status;
  if (!chans || !values) fail("out of memory", 0);
  if ((status = ca_context_create(ca_disable_preemptive_callback)) != ECA_NORMAL) fail("ca_context_create", status);
  double t0 = now();
  for (long i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s%ld", prefix, i);
    if ((status = ca_create_channel(name, NULL, NULL, 0, &chans[i])) != ECA_NORMAL) fail("ca_create_channel", status);
  }
  if ((status = ca_pend_io(60.0)) != ECA_NORMAL) fail("connecting", status);
  double t1 = now();
  for (long i = 0; i < n; i++) {
    values[i] = -1;
    if ((status = ca_array_get(DBR_DOUBLE, 1, chans[i], &values[i])) != ECA_NORMAL) fail("ca_array_get", status);
  }
  if ((status = ca_pend_io(60.0)) != ECA_NORMAL) fail("first get", status);
  double t2 = now();
  long wrong = 0;
  for (long i = 0; i < n; i++) if (values[i] != (double)i) wrong++;
  printf("{\"pvs\":%ld,\"connect_s\":%.6f,\"get_s\":%.6f,\"wrong_values\":%ld}\n", n, t1 - t0, t2 - t1, wrong);
  fflush(stdout);
  ca_context_destroy();
  return 0;
}

static int put_burst(const char *pv, long n) {
  chid chan;
  int status;
  if ((status = ca_context_create(ca_disable_preemptive_callback)) != ECA_NORMAL) fail("ca_context_create", status);
  if ((status = ca_create_channel(pv, NULL, NULL, 0, &chan)) != ECA_NORMAL) fail("ca_create_channel", status);
  if ((status = ca_pend_io(10.0)) != ECA_NORMAL) fail("connecting", status);
  double t0 = now();
  for (long i = 1; i <= n; i++) {
    double v = (double)i;
    if ((status = ca_array_put(DBR_DOUBLE, 1, chan, &v)) != ECA_NORMAL) fail("ca_array_put", status);
  }
  double back = -1;
  if ((status = ca_array_get(DBR_DOUBLE, 1, chan, &back)) != ECA_NORMAL) fail("ca_array_get", status);
  if ((status = ca_pend_io(60.0)) != ECA_NORMAL) fail("get after the burst", status);
  double t1 = now();
  printf("{\"puts\":%ld,\"put_s\":%.6f,\"read_back\":%.17g}\n", n, t1 - t0, back);
  fflush(stdout);
  ca_context_destroy();
  return 0;
}

/* Values put are whole numbers, so they are kept as integers here. */
static atomic_long updates;
static atomic_long last_value = -1;

/* Called from libca's receive thread (preemptive callbacks). */
static void on_update(struct event_handler_args args) {
  if (args.status != ECA_NORMAL || !args.dbr) return;
  double v = *(const double *)args.dbr;
  if (v > 0) atomic_fetch_add(&updates, 1);
  atomic_store(&last_value, (long)v);
}

static int monitor(const char *pv, long last) {
  chid chan;
  evid sub;
  int status;
  if ((status = ca_context_create(ca_enable_preemptive_callback)) != ECA_NORMAL) fail("ca_context_create", status);
  if ((status = ca_create_channel(pv, NULL, NULL, 0, &chan)) != ECA_NORMAL) fail("ca_create_channel", status);
  if ((status = ca_pend_io(10.0)) != ECA_NORMAL) fail("connecting", status);
  if ((status = ca_create_subscription(DBR_DOUBLE, 1, chan, DBE_VALUE, on_update, NULL, &sub)) != ECA_NORMAL) fail("ca_create_subscription", status);
  ca_flush_io();
  /* The first update is the current value (0): wait for it so that it is not counted as a change. */
  double t = now();
  while (atomic_load(&last_value) < 0 && now() - t < 10) ca_pend_event(0.01);
  printf("{\"subscribed\":true}\n");
  fflush(stdout);
  struct pollfd in = { .fd = 0, .events = POLLIN };
  char buf[64];
  for (;;) {
    if (atomic_load(&last_value) == last) break;
    if (poll(&in, 1, 10) > 0 && read(0, buf, sizeof buf) <= 0) break;
  }
  double deadline = now() + 5.0;
  while (atomic_load(&last_value) != last && now() < deadline) ca_pend_event(0.01);
  printf("{\"updates\":%ld,\"last_value\":%ld}\n", atomic_load(&updates),
         atomic_load(&last_value));
  fflush(stdout);
  ca_context_destroy();
  return 0;
}

static int wait_served(const char *pv, double timeout) {
  int status;
  if ((status = ca_context_create(ca_disable_preemptive_callback)) != ECA_NORMAL) fail("ca_context_create", status);
  double t0 = now();
  while (now() - t0 < timeout) {
    chid chan;
    if ((status = ca_create_channel(pv, NULL, NULL, 0, &chan)) != ECA_NORMAL) fail("ca_create_channel", status);
    if (ca_pend_io(0.02) == ECA_NORMAL && ca_state(chan) == cs_conn) {
      double v = 0;
      if ((status = ca_array_get(DBR_DOUBLE, 1, chan, &v)) != ECA_NORMAL) fail("ca_array_get", status);
      if ((status = ca_pend_io(10.0)) != ECA_NORMAL) fail("get", status);
      printf("{\"served_after_s\":%.6f,\"value\":%.17g}\n", now() - t0, v);
      fflush(stdout);
      ca_context_destroy();
      return 0;
    }
    ca_clear_channel(chan);
  }
  fail("the server did not serve in time", 0);
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "connect-get") == 0) return connect_get(argv[2], atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "put-burst") == 0) return put_burst(argv[2], atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "monitor") == 0) return monitor(argv[2], atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "wait") == 0) return wait_served(argv[2], atof(argv[3]));
  fprintf(stderr, "usage: ca_bench_client connect-get PREFIX N | put-burst NAME N | monitor NAME LAST | wait NAME TIMEOUT_S\n");
  return 2;
}
