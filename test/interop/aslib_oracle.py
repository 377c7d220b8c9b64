#!/usr/bin/env python3
"""Reference oracle for access security: EPICS libCom's own asLib.

Reads a JSON array of scenarios on stdin and writes a JSON array of results
on stdout. A scenario:

    {"acf": "<.acf text>", "macros": "P=bl:" | null,
     "inputs": {"<pv name>": <number> | "invalid" | "disconnected", ...},
     "steps": [{"inputs": {...}}, ...],          (optional, later input changes)
     "cases": [{"asg": "X", "level": 0, "user": "alice", "host": "OPI1"}, ...]}

The .acf text is written to a temporary file and loaded with
asInitFile(file, macros), as an IOC's asSetFilename/asSetSubstitutions do.
For each case a member is added for the ASG name (asAddMember) and a client
for (level, user, host) (asAddClient); its access and trapMask are read from
the client structure, which is what the asCheckGet/asCheckPut macros do.

CALC inputs: asLib itself never reads PVs; in an IOC, dbCore's asCa.c does,
by poking the ASG structure and calling asComputeAsg. This oracle does the
same thing asCa.c does (asCaTask, eventCallback, connectCallback):
  - at start every INPx of every ASG is marked bad (inpBad);
  - a connected input with a value clears its inpBad bit, stores the value in
    pavalue and sets its inpChanged bit; an INVALID-severity input sets inpBad
    and inpChanged; a PV that never connects ("disconnected", or not listed)
    stays bad and never changes;
  - then asComputeAllAsg().
Each step applies more input events (asComputeAsg per ASG, as eventCallback
does) and reads every client again.

A result: {"status": <asInitFile status>, "messages": "<what asLib printed>",
"steps": [[{"access": 0|1|2, "trap": 0|1, "callbacks": n}, ...], ...],
"dump": "<asDumpFP output>"}. steps[0] is the state after loading.

Every scenario runs in a forked child: asLib keeps global state, and the
child's stderr (where the parser reports "... at line N") is captured.

Exit status 3 when libCom cannot be loaded (the caller decides whether that
is a skip or a failure). The library ships no headers: the prototypes and
structure layouts below are those of asLib.h and ellLib.h in EPICS base
7.0.3.1 (Debian's libcom3.17.6).
"""
import ctypes
import json
import os
import sys
import tempfile

from forked import run_forked

LIBRARY = "libCom.so.3.17.6"
INVALID_ALARM = 3


class ELLNODE(ctypes.Structure):
    pass


ELLNODE._fields_ = [("next", ctypes.POINTER(ELLNODE)), ("previous", ctypes.POINTER(ELLNODE))]


class ELLLIST(ctypes.Structure):
    _fields_ = [("node", ELLNODE), ("count", ctypes.c_int)]


class ASBASE(ctypes.Structure):
    _fields_ = [("uagList", ELLLIST), ("hagList", ELLLIST), ("asgList", ELLLIST),
                ("phash", ctypes.c_void_p)]


class ASG(ctypes.Structure):
    _fields_ = [("node", ELLNODE), ("name", ctypes.c_char_p), ("inpList", ELLLIST),
                ("ruleList", ELLLIST), ("memberList", ELLLIST),
                ("pavalue", ctypes.POINTER(ctypes.c_double)),
                ("inpBad", ctypes.c_ulong), ("inpChanged", ctypes.c_ulong)]


class ASGINP(ctypes.Structure):
    _fields_ = [("node", ELLNODE), ("inp", ctypes.c_char_p), ("capvt", ctypes.c_void_p),
                ("pasg", ctypes.POINTER(ASG)), ("inpIndex", ctypes.c_int)]


class ASGCLIENT(ctypes.Structure):
    _fields_ = [("node", ELLNODE), ("pasgMember", ctypes.c_void_p), ("user", ctypes.c_char_p),
                ("host", ctypes.c_char_p), ("userPvt", ctypes.c_void_p),
                ("pcallback", ctypes.c_void_p), ("level", ctypes.c_int),
                ("access", ctypes.c_int), ("trapMask", ctypes.c_int)]


CLIENT_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.POINTER(ASGCLIENT), ctypes.c_int)


def load():
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as exc:
        sys.stderr.write("cannot load %s: %s\n" % (LIBRARY, exc))
        sys.exit(3)
    vp = ctypes.c_void_p
    lib.asInitFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.asInitFile.restype = ctypes.c_long
    lib.asAddMember.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p]
    lib.asAddMember.restype = ctypes.c_long
    lib.asAddClient.argtypes = [ctypes.POINTER(ctypes.POINTER(ASGCLIENT)), vp, ctypes.c_int,
                                ctypes.c_char_p, ctypes.c_char_p]
    lib.asAddClient.restype = ctypes.c_long
    lib.asRegisterClientCallback.argtypes = [ctypes.POINTER(ASGCLIENT), CLIENT_CALLBACK]
    lib.asRegisterClientCallback.restype = ctypes.c_long
    lib.asComputeAllAsg.argtypes = []
    lib.asComputeAllAsg.restype = ctypes.c_long
    lib.asComputeAsg.argtypes = [ctypes.POINTER(ASG)]
    lib.asComputeAsg.restype = ctypes.c_long
    lib.asDumpFP.argtypes = [vp, vp, vp, ctypes.c_int]
    lib.asDumpFP.restype = ctypes.c_int
    lib.errlogFlush.argtypes = []
    lib.errlogFlush.restype = None
    libc = ctypes.CDLL(None)
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fopen.restype = vp
    libc.fclose.argtypes = [vp]
    libc.fclose.restype = ctypes.c_int
    return lib, libc


def each(lst, struct):
    """The nodes of an ELLLIST (ELLNODE is every node's first member)."""
    node = lst.node.next
    while node:
        yield ctypes.cast(node, ctypes.POINTER(struct)).contents
        node = node.contents.next


def asgs(lib):
    base = ctypes.c_void_p.in_dll(lib, "pasbase").value
    if not base:
        return []
    return list(each(ctypes.cast(base, ctypes.POINTER(ASBASE)).contents.asgList, ASG))


def apply_inputs(lib, events, initial):
    """What asCa.c's eventCallback does for each input event, then recompute."""
    touched = []
    for asg in asgs(lib):
        changed = False
        for inp in each(asg.inpList, ASGINP):
            bit = 1 << inp.inpIndex
            if initial:
                asg.inpBad |= bit  # asCaTask marks every input bad before connecting
            name = inp.inp.decode("utf-8")
            if name not in events:
                continue
            value = events[name]
            if value == "disconnected":
                if not asg.inpBad & bit:
                    asg.inpBad |= bit  # connectCallback: a disconnect makes it bad, no inpChanged
                    changed = True
                continue
            if value == "invalid":
                asg.inpBad |= bit
            else:
                asg.inpBad &= ~bit
                asg.pavalue[inp.inpIndex] = float(value)
            asg.inpChanged |= bit
            changed = True
        if changed:
            touched.append(ctypes.pointer(asg))
    if initial:
        lib.asComputeAllAsg()
    else:
        for p in touched:
            lib.asComputeAsg(p)


def dump(lib, libc):
    fd, path = tempfile.mkstemp(prefix="asdump-")
    os.close(fd)
    fp = libc.fopen(path.encode(), b"w")
    lib.asDumpFP(fp, None, None, 1)
    libc.fclose(fp)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    os.unlink(path)
    return text


def run_scenario(lib, libc, sc):
    with tempfile.NamedTemporaryFile("w", suffix=".acf", delete=False, encoding="utf-8") as f:
        f.write(sc["acf"])
        path = f.name
    try:
        macros = sc.get("macros")
        status = lib.asInitFile(path.encode(), macros.encode() if macros else None)
    finally:
        os.unlink(path)
    out = {"status": status, "steps": []}
    if status != 0:
        return out
    apply_inputs(lib, sc.get("inputs", {}), True)
    keep = []  # asLib keeps pointers to the names: they must outlive the clients
    clients = []
    counts = []
    for i, c in enumerate(sc.get("cases", [])):
        name = ctypes.create_string_buffer(c["asg"].encode())
        member = ctypes.c_void_p()
        st = lib.asAddMember(ctypes.byref(member), name)
        if st != 0:
            raise RuntimeError("asAddMember(%s) returned %d" % (c["asg"], st))
        user = ctypes.create_string_buffer(c["user"].encode())
        host = ctypes.create_string_buffer(c["host"].encode())  # asAddClient lower-cases it in place
        client = ctypes.POINTER(ASGCLIENT)()
        st = lib.asAddClient(ctypes.byref(client), member, c["level"], user, host)
        if st != 0:
            raise RuntimeError("asAddClient returned %d" % st)
        counts.append(0)

        def on_change(_client, _status, i=i):
            counts[i] += 1

        cb = CLIENT_CALLBACK(on_change)
        lib.asRegisterClientCallback(client, cb)  # calls it once at registration
        keep.extend([name, member, user, host, cb])
        clients.append(client)

    def snapshot():
        return [{"access": cl.contents.access, "trap": cl.contents.trapMask, "callbacks": counts[i] - 1}
                for i, cl in enumerate(clients)]

    out["steps"].append(snapshot())
    for step in sc.get("steps", []):
        apply_inputs(lib, step.get("inputs", {}), False)
        out["steps"].append(snapshot())
    if sc.get("dump"):
        out["dump"] = dump(lib, libc)
    return out


def run_isolated(lib, libc, sc):
    """run_scenario in a child process with its stderr captured."""
    def work():
        result = run_scenario(lib, libc, sc)
        lib.errlogFlush()
        return result

    result, died, messages = run_forked(work, 10, capture_stderr=True)
    if died:
        return {"failure": "child died; stderr: %s" % messages}
    result["messages"] = messages
    return result


def main():
    lib, libc = load()
    scenarios = json.load(sys.stdin)
    json.dump([run_isolated(lib, libc, sc) for sc in scenarios], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
