"""libca (pyepics) side of the CA benchmarks. Prints one JSON line of figures.

usage: ca_client_bench.py connect N          connect and first get of bulk:0..N-1, pyepics' libca binding
       ca_client_bench.py connect-py N       the same through pyepics' Python API (client-bound)
       ca_client_bench.py monitor N SECONDS  monitor bulk:0..N-1, count updates for SECONDS
"""
import ctypes
import json
import os
import sys
import threading
import time

from epics import ca
from epics import dbr

EVENT_CB = ctypes.CFUNCTYPE(None, dbr.event_handler_args)


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def connect_and_get_libca(n):
    """ca_create_channel for every name, ca_pend_io, ca_array_get for every channel,
    ca_pend_io: what a C client such as caget does, so the server's time shows."""
    libca = ca.initialize_libca()
    libca.ca_pend_io.argtypes = [ctypes.c_double]
    names = [('bulk:%d' % i).encode() for i in range(n)]
    chids = [ctypes.c_void_p() for _ in range(n)]
    values = (ctypes.c_double * n)()
    t0 = time.perf_counter()
    for name, chid in zip(names, chids):
        libca.ca_create_channel(name, None, None, 0, ctypes.byref(chid))
    if libca.ca_pend_io(10.0) != 1:
        raise SystemExit('channels did not connect')
    t_conn = time.perf_counter()
    for i, chid in enumerate(chids):
        libca.ca_array_get(6, 1, chid, ctypes.byref(values, i * 8))  # DBR_DOUBLE
    if libca.ca_pend_io(10.0) != 1:
        raise SystemExit('gets did not complete')
    t1 = time.perf_counter()
    bad = sum(1 for i in range(n) if values[i] != i)
    return {'pvs': n, 'connect_s': t_conn - t0, 'connect_and_get_s': t1 - t0, 'wrong_values': bad}


def connect_and_get(n):
    names = ['bulk:%d' % i for i in range(n)]
    ca.initialize_libca()
    t0 = time.perf_counter()
    chids = [ca.create_channel(name, connect=False, auto_cb=False) for name in names]
    for c in chids:
        if not ca.connect_channel(c, timeout=10):
            raise SystemExit('channel did not connect')
    t_conn = time.perf_counter()
    for c in chids:
        ca.get(c, wait=False)
    ca.poll()
    values = [ca.get_complete(c, timeout=10) for c in chids]
    t1 = time.perf_counter()
    bad = sum(1 for i, v in enumerate(values) if v != i)
    return {'pvs': n, 'connect_s': t_conn - t0, 'connect_and_get_s': t1 - t0, 'wrong_values': bad}


def monitor(n, seconds):
    ca.initialize_libca()
    chids = [ca.create_channel('bulk:%d' % i, connect=False, auto_cb=False) for i in range(n)]
    for c in chids:
        ca.connect_channel(c, timeout=10)
    lock = threading.Lock()
    counts = {'events': 0}

    # A bare libca event handler that only counts: the figure is libca's
    # throughput, not that of pyepics' value conversion.
    def cb(args):
        with lock:
            counts['events'] += 1

    handler = EVENT_CB(cb)
    libca = ca.libca
    evids = [ctypes.c_void_p() for _ in chids]
    for c, evid in zip(chids, evids):
        libca.ca_create_subscription(20, 1, c, 1, handler, None, ctypes.byref(evid))  # DBR_TIME_DOUBLE, DBE_VALUE
    libca.ca_flush_io()
    subs = (handler, evids)
    time.sleep(0.5)  # initial values arrive; they are not counted below
    with lock:
        counts['events'] = 0
    sys.stdout.write('SUBSCRIBED\n')
    sys.stdout.flush()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    time.sleep(seconds)
    with lock:
        events = counts['events']
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    for evid in evids:
        libca.ca_clear_subscription(evid)
    libca.ca_flush_io()
    # keep `subs` referenced: libca calls into its callbacks until the process exits
    return {'pvs': n, 'events': events, 'seconds': elapsed, 'events_per_s': events / elapsed,
            'client_cpu_s': cpu, 'subscriptions': len(subs)}


def main():
    mode = sys.argv[1]
    if mode == 'connect':
        out = connect_and_get_libca(int(sys.argv[2]))
    elif mode == 'connect-py':
        out = connect_and_get(int(sys.argv[2]))
    else:
        out = monitor(int(sys.argv[2]), float(sys.argv[3]))
    sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
