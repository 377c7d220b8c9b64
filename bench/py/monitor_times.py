"""Print the wall-clock arrival time of every monitor update of one PV, as JSON
lines {"t": seconds, "value": v}, until stdin closes. Used to measure how long
a change takes to reach a libca client. usage: monitor_times.py PV"""
import json
import sys
import threading
import time

from epics import ca

pv = sys.argv[1]
lock = threading.Lock()


def cb(value=None, **_kw):
    t = time.time()
    with lock:
        sys.stdout.write(json.dumps({'t': t, 'value': value}) + '\n')
        sys.stdout.flush()


chid = ca.create_channel(pv, connect=False, auto_cb=False)
if not ca.connect_channel(chid, timeout=10):
    raise SystemExit('not connected: ' + pv)
handle = ca.create_subscription(chid, mask=5, callback=cb)
sys.stdout.write(json.dumps({'ready': True}) + '\n')
sys.stdout.flush()
sys.stdin.read()
ca.clear_subscription(handle[2])
