"""Time N caput-with-wait calls of 1 to a PV from one libca client, printing
one JSON line {"put_s": [...]} . usage: put_times.py PV N [STOPPV]
Between puts, STOPPV (if given) is put with wait too, untimed."""
import json
import sys
import time

from epics import ca

pv, n = sys.argv[1], int(sys.argv[2])
stop = sys.argv[3] if len(sys.argv) > 3 else None
chid = ca.create_channel(pv, connect=False, auto_cb=False)
ca.connect_channel(chid, timeout=10)
schid = None
if stop:
    schid = ca.create_channel(stop, connect=False, auto_cb=False)
    ca.connect_channel(schid, timeout=10)
times = []
for _ in range(n):
    if schid is not None:
        ca.put(schid, 1, wait=True, timeout=30)
    t0 = time.perf_counter()
    ca.put(chid, 1, wait=True, timeout=30)
    times.append(time.perf_counter() - t0)
sys.stdout.write(json.dumps({'put_s': times}) + '\n')
