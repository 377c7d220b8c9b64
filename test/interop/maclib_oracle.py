#!/usr/bin/env python3
"""Reference oracle for macro expansion: EPICS libCom's own macLib.

Reads a JSON array of cases {"defs": "A=1,B=2", "input": "$(A)"} on stdin and
writes a JSON array of results {"pairs": [[name, value|null], ...],
"status": <macExpandString return>, "output": "..."} on stdout.

Each case gets a fresh handle: macCreateHandle(NULL), macParseDefns of the
definitions, macInstallMacros, then macExpandString. Warnings stay enabled so
that bad references come back as "$(NAME,undefined)" / "$(NAME,recursive)";
eltc(0) keeps the errlog copy of them off the console.

Every case runs in a forked child with an alarm, because macLib can loop
forever on some unterminated references (`$(A,` at the very end of the
text); such a case comes back as {"hang": true}.

Exit status 3 when libCom cannot be loaded (the caller decides whether that
is a skip or a failure). The library ships no headers, so the prototypes are
declared here from macLib.h.
"""
import ctypes
import json
import sys

from forked import run_forked

LIBRARY = "libCom.so.3.17.6"


def load():
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as exc:
        sys.stderr.write("cannot load %s: %s\n" % (LIBRARY, exc))
        sys.exit(3)
    char_pp = ctypes.POINTER(ctypes.c_char_p)
    lib.macCreateHandle.argtypes = [ctypes.POINTER(ctypes.c_void_p), char_pp]
    lib.macCreateHandle.restype = ctypes.c_long
    lib.macParseDefns.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(char_pp)]
    lib.macParseDefns.restype = ctypes.c_long
    lib.macInstallMacros.argtypes = [ctypes.c_void_p, char_pp]
    lib.macInstallMacros.restype = ctypes.c_long
    lib.macExpandString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long]
    lib.macExpandString.restype = ctypes.c_long
    lib.macDeleteHandle.argtypes = [ctypes.c_void_p]
    lib.macDeleteHandle.restype = ctypes.c_long
    lib.eltc.argtypes = [ctypes.c_int]
    lib.eltc.restype = None
    lib.errlogFlush.argtypes = []
    lib.errlogFlush.restype = None
    lib.free = ctypes.CDLL(None).free
    lib.free.argtypes = [ctypes.c_void_p]
    return lib, char_pp


def run_case(lib, char_pp, defs, text):
    handle = ctypes.c_void_p()
    if lib.macCreateHandle(ctypes.byref(handle), None) != 0:
        raise RuntimeError("macCreateHandle failed")
    pairs = char_pp()
    count = lib.macParseDefns(None, defs.encode("utf-8"), ctypes.byref(pairs))
    parsed = []
    for i in range(max(count, 0)):
        name = pairs[2 * i]
        value = pairs[2 * i + 1]
        parsed.append([
            name.decode("utf-8") if name is not None else None,
            value.decode("utf-8") if value is not None else None,
        ])
    lib.macInstallMacros(handle, pairs)
    lib.free(ctypes.cast(pairs, ctypes.c_void_p))
    buf = ctypes.create_string_buffer(8192)
    status = lib.macExpandString(handle, text.encode("utf-8"), buf, len(buf))
    lib.macDeleteHandle(handle)
    return {"pairs": parsed, "status": status, "output": buf.value.decode("utf-8")}


def run_isolated(lib, char_pp, defs, text):
    """run_case in a child process, killed after 2 s."""
    def work():
        lib.eltc(0)  # errlog starts in the child, not inherited half-initialised
        return run_case(lib, char_pp, defs, text)

    result, died, _ = run_forked(work, 2)
    if died:
        return {"hang": True, "pairs": [], "status": -1, "output": ""}
    if "failure" in result:
        raise RuntimeError(result["failure"])
    return result


def main():
    lib, char_pp = load()
    cases = json.load(sys.stdin)
    results = [run_isolated(lib, char_pp, c["defs"], c["input"]) for c in cases]
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
