"""A Channel Access client driven over stdin/stdout, for interop tests.

Real libca through Debian's python3-pyepics. Each stdin line is a JSON request
{"id": n, "op": ..., ...}; each gets one JSON reply line {"id": n, ...}.
Reached only through libca: nothing here knows the server under test.

Ops: connect, get, rawget, put, rawput, putack, exceptions, monitor, rawmonitor, events,
unmonitor, info, wait_access, whoami, disconnect, wait_connected, wait_disconnected, udp_ports, quit.
"""
import ctypes
import json
import math
import sys
import threading
import time

import epics
from epics import ca, dbr

libca = ca.initialize_libca()
DBR_SIZE = (ctypes.c_ushort * 39).in_dll(libca, 'dbr_size')
DBR_VALUE_SIZE = (ctypes.c_ushort * 39).in_dll(libca, 'dbr_value_size')

lock = threading.Lock()
channels = {}
monitors = {}
put_status = {}
exceptions = []


# pyepics does not pass the put-callback status on; read it ourselves.
def _on_put(args, **_kw):
    with lock:
        put_status[ca._chid_to_int(args.chid)] = args.status
    fcn = args.usr
    if callable(fcn):
        fcn()


ca._CB_PUTWAIT = dbr.make_callback(_on_put, dbr.event_handler_args)


class ExceptionArgs(ctypes.Structure):
    _fields_ = [('usr', ctypes.c_void_p), ('chid', ctypes.c_void_p), ('type', ctypes.c_long),
                ('count', ctypes.c_long), ('addr', ctypes.c_void_p), ('stat', ctypes.c_long),
                ('op', ctypes.c_long), ('ctx', ctypes.c_char_p), ('pFile', ctypes.c_char_p),
                ('lineNo', ctypes.c_uint)]


EXC_CB = ctypes.CFUNCTYPE(None, ExceptionArgs)


def _on_exception(args):
    with lock:
        exceptions.append({'stat': int(args.stat), 'op': int(args.op),
                           'ctx': (args.ctx or b'').decode('utf8', 'replace')})


_exc_cb = EXC_CB(_on_exception)
libca.ca_add_exception_event(_exc_cb, None)

RAW_CB = ctypes.CFUNCTYPE(None, dbr.event_handler_args)


def jsonable(v):
    if isinstance(v, ctypes.Array):  # as_numpy=False gives ctypes arrays for array PVs
        v = list(v)
    if hasattr(v, 'tolist'):
        v = v.tolist()
    if isinstance(v, bytes):
        return v.decode('latin1')
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def chan(pv, timeout=2.0):
    chid = channels.get(pv)
    if chid is None:
        chid = ca.create_channel(pv, connect=False, auto_cb=False)
        channels[pv] = chid
    ok = ca.connect_channel(chid, timeout=timeout)
    if not ok:
        raise RuntimeError('not connected: %s' % pv)
    return chid


def op_connect(req):
    chid = ca.create_channel(req['pv'], connect=False, auto_cb=False)
    ok = ca.connect_channel(chid, timeout=req.get('timeout', 2.0))
    if ok:
        channels[req['pv']] = chid
        return {'connected': True, 'ftype': ca.field_type(chid), 'count': ca.element_count(chid),
                'read': bool(ca.read_access(chid)), 'write': bool(ca.write_access(chid)),
                'host': ca.host_name(chid)}
    ca.clear_channel(chid)
    return {'connected': False}


def op_get(req):
    chid = chan(req['pv'])
    ftype = req.get('ftype')
    res = ca.get_with_metadata(chid, ftype=ftype, count=req.get('count'), timeout=req.get('timeout', 3.0),
                               as_string=req.get('as_string', False), as_numpy=False)
    if res is None:
        return {'error': 'get timed out'}
    return {'result': jsonable(res)}


def op_rawget(req):
    """ca_array_get_callback of any DBR type; returns the bytes libca delivered, in hex."""
    chid = chan(req['pv'])
    ftype, count = req['ftype'], req.get('count', 1)
    done = threading.Event()
    out = {}

    def cb(args):
        n = count if count > 0 else args.count
        size = DBR_SIZE[ftype] + (max(n, 1) - 1) * DBR_VALUE_SIZE[ftype]
        out['status'] = int(args.status)
        out['count'] = int(args.count)
        out['hex'] = ctypes.string_at(args.raw_dbr, size).hex() if args.raw_dbr else ''
        done.set()

    c = RAW_CB(cb)
    ret = libca.ca_array_get_callback(ftype, count, chid, c, None)
    libca.ca_flush_io()
    if ret != 1:
        return {'error': 'ca_array_get_callback returned %d' % ret, 'ret': ret}
    if not done.wait(req.get('timeout', 3.0)):
        return {'error': 'timeout'}
    return out


def op_put(req):
    chid = chan(req['pv'])
    key = ca._chid_to_int(chid)
    with lock:
        put_status.pop(key, None)
        del exceptions[:]
    t0 = time.time()
    try:
        ret = ca.put(chid, req['value'], wait=req.get('wait', False), timeout=req.get('timeout', 10.0))
    except Exception as exc:  # pyepics raises on access denied and on libca errors
        return {'raised': '%s: %s' % (type(exc).__name__, exc)}
    elapsed = time.time() - t0
    if not req.get('wait', False) and req.get('poll', 0.3):
        ca.poll(req.get('poll', 0.3))  # let an ERROR reply arrive (pass poll=0 and use the exceptions op)
    with lock:
        return {'ret': ret, 'elapsed': elapsed, 'status': put_status.get(key),
                'exceptions': list(exceptions)}


def op_putget(req):
    """`n` times: ca.put of a new value (no wait), then ca.get on the same channel.
    Returns how many gets read something other than the value just put."""
    chid = chan(req['pv'])
    stale = []
    for i in range(req['n']):
        value = req.get('start', 1) + i
        ca.put(chid, value, wait=False)
        got = ca.get(chid, timeout=req.get('timeout', 3.0))
        if got != value:
            stale.append([value, jsonable(got)])
    return {'stale': len(stale), 'examples': stale[:5]}


def op_exceptions(req):
    """The libca exceptions since the last put; waits until at least `atleast` arrived."""
    deadline = time.time() + req.get('timeout', 3.0)
    want = req.get('atleast', 0)
    while time.time() < deadline:
        with lock:
            if len(exceptions) >= want:
                break
        ca.poll(0.01)
    with lock:
        return {'exceptions': list(exceptions)}


def op_rawput(req):
    """ca_array_put(_callback) of a chosen DBR type (0..6), bypassing pyepics' own conversions.
    With wait, returns the put-callback status."""
    chid = chan(req['pv'])
    ftype, values = req['ftype'], req['value']
    if not isinstance(values, list):
        values = [values]
    data = (len(values) * dbr.Map[ftype])()
    for i, v in enumerate(values):
        if ftype == dbr.STRING:
            data[i].value = v.encode('latin1')
        else:
            data[i] = v
    with lock:
        del exceptions[:]
    if not req.get('wait', False):
        ret = libca.ca_array_put(ftype, len(values), chid, data)
        libca.ca_flush_io()
        return {'ret': ret}
    done = threading.Event()
    out = {}

    def cb(args):
        out['status'] = int(args.status)
        done.set()

    c = RAW_CB(cb)
    ret = libca.ca_array_put_callback(ftype, len(values), chid, data, c, None)
    libca.ca_flush_io()
    if ret != 1:
        return {'ret': ret}
    if not done.wait(req.get('timeout', 5.0)):
        return {'ret': ret, 'error': 'timeout'}
    return {'ret': ret, 'status': out['status']}


def op_putack(req):
    chid = chan(req['pv'])
    v = ctypes.c_ushort(req['value'])
    ret = libca.ca_array_put(35 if req['field'] == 'ackt' else 36, 1, chid, ctypes.byref(v))
    libca.ca_flush_io()
    return {'ret': ret}


def op_monitor(req):
    chid = chan(req['pv'])
    mid = req['mid']
    events = []
    monitors[mid] = {'events': events}

    def cb(**kw):
        with lock:
            events.append({k: jsonable(kw.get(k)) for k in
                           ('value', 'status', 'severity', 'timestamp', 'count', 'units', 'upper_disp_limit')})

    form = req.get('form', 'time')  # 'time', 'ctrl' or 'native'
    handle = ca.create_subscription(chid, use_time=form == 'time', use_ctrl=form == 'ctrl',
                                    mask=req.get('mask'), callback=cb, count=req.get('count', 0))
    monitors[mid]['handle'] = handle
    return {'ok': True}


def op_rawmonitor(req):
    """ca_create_subscription of any DBR type (e.g. STSACK_STRING like ALH); events carry hex bytes."""
    chid = chan(req['pv'])
    mid, ftype, count = req['mid'], req['ftype'], req.get('count', 1)
    events = []

    def cb(args):
        n = count if count > 0 else args.count
        size = DBR_SIZE[ftype] + (max(n, 1) - 1) * DBR_VALUE_SIZE[ftype]
        with lock:
            events.append({'status': int(args.status), 'count': int(args.count),
                           'hex': ctypes.string_at(args.raw_dbr, size).hex() if args.raw_dbr else ''})

    c = RAW_CB(cb)
    evid = ctypes.c_void_p()
    ret = libca.ca_create_subscription(ftype, count, chid, req.get('mask', 1), c, None, ctypes.byref(evid))
    libca.ca_flush_io()
    if ret != 1:
        return {'error': 'ca_create_subscription returned %d' % ret, 'ret': ret}
    monitors[mid] = {'events': events, 'handle': (c, None, evid)}
    return {'ok': True}


def op_events(req):
    mon = monitors[req['mid']]
    deadline = time.time() + req.get('timeout', 3.0)
    want = req.get('atleast', 0)
    while time.time() < deadline:
        with lock:
            if len(mon['events']) >= want:
                break
        time.sleep(0.01)
    if req.get('settle'):
        time.sleep(req['settle'])
    with lock:
        return {'events': list(mon['events'])}


def op_unmonitor(req):
    mon = monitors.pop(req['mid'])
    ca.clear_subscription(mon['handle'][2])
    return {'ok': True}


def op_info(req):
    chid = chan(req['pv'])
    return {'state': ca.state(chid), 'read': bool(ca.read_access(chid)), 'write': bool(ca.write_access(chid))}


def op_wait_access(req):
    """Wait until the channel's access rights are {read, write} (libca updates them on
    ACCESS_RIGHTS from the server); returns the rights at the end and whether they matched."""
    chid = chan(req['pv'])
    want = (bool(req['read']), bool(req['write']))
    t0 = time.time()
    deadline = t0 + req.get('timeout', 5.0)
    while True:
        now = (bool(ca.read_access(chid)), bool(ca.write_access(chid)))
        if now == want or time.time() >= deadline:
            return {'matched': now == want, 'read': now[0], 'write': now[1], 'after': time.time() - t0}
        ca.poll(0.02)


def op_whoami(_req):
    """The identity libca reports: CLIENT_NAME is the login name of the uid, HOST_NAME gethostname()."""
    import os
    import pwd
    import socket
    return {'uid': os.getuid(), 'user': pwd.getpwuid(os.getuid()).pw_name, 'host': socket.gethostname()}


def op_disconnect(req):
    chid = channels.pop(req['pv'], None)
    if chid is not None:
        ca.clear_channel(chid)
    return {'ok': True}


def op_wait_connected(req):
    chid = channels.get(req['pv']) or ca.create_channel(req['pv'], connect=False, auto_cb=False)
    channels[req['pv']] = chid
    deadline = time.time() + req.get('timeout', 5.0)
    while time.time() < deadline:
        if ca.isConnected(chid) if hasattr(ca, 'isConnected') else ca.state(chid) == 2:
            return {'connected': True, 'after': req.get('timeout', 5.0) - (deadline - time.time())}
        ca.poll(0.02)
    return {'connected': False}


def op_wait_disconnected(req):
    chid = channels[req['pv']]
    deadline = time.time() + req.get('timeout', 5.0)
    while time.time() < deadline:
        if ca.state(chid) != 2:
            return {'disconnected': True}
        ca.poll(0.02)
    return {'disconnected': False}


def op_wait_value(req):
    """Poll a PV until it has `value` (the IOC may still be reading its services)."""
    chid = chan(req['pv'], timeout=req.get('timeout', 5.0))
    deadline = time.time() + req.get('timeout', 5.0)
    last = None
    while time.time() < deadline:
        last = ca.get(chid, timeout=2.0)
        if last == req['value']:
            return {'ok': True, 'value': jsonable(last)}
        ca.poll(0.05)
    return {'ok': False, 'value': jsonable(last)}


def op_udp_ports(_req):
    """The local ports of this process's UDP sockets (libca's search socket among them),
    from /proc: the repeater logs the port of each client it registers."""
    import os
    inodes = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    ports = []
    with open('/proc/self/net/udp') as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[9] in inodes:
                ports.append(int(cols[1].split(':')[1], 16))
    return {'ports': sorted(ports)}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith('op_')}


def main():
    sys.stdout.write(json.dumps({'ready': True, 'pyepics': epics.__version__}) + '\n')
    sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req.get('op') == 'quit':
            break
        try:
            res = OPS[req['op']](req)
        except Exception as exc:
            res = {'exception': '%s: %s' % (type(exc).__name__, exc)}
        res['id'] = req.get('id')
        sys.stdout.write(json.dumps(res) + '\n')
        sys.stdout.flush()
    ca.finalize_libca()


if __name__ == '__main__':
    main()
