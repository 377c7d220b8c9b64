#!/usr/bin/env python3
"""Reference oracle for CALC expressions: EPICS libCom's own postfix() and
calcPerform(), through ctypes on Debian's libcom3.17.6.

Reads a JSON array of cases on stdin, each {"expr": "...", "args": [A..L],
"val": <previous result>}, and writes a JSON array of results on stdout:
{"status": <postfix status>, "error": "<calcErrorStr>"} when postfix refuses
the expression, else {"status": 0, "perform": <calcPerform status>,
"result": <number or "NaN"/"Inf"/"-Inf">, "args": [A..L after the run],
"inputs": <bit mask of inputs read>, "stores": <bit mask of inputs assigned>}.

Every case runs in a forked child (a crash inside libCom gives
{"status": "crashed"}). Exit status 3 when libCom cannot be loaded. The prototypes are those of
postfix.h in EPICS base 7.0.3.1.
"""
import ctypes
import json
import math
import sys

from forked import run_forked

LIBRARY = "libCom.so.3.17.6"
NARGS = 12


def number(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return x


def main():
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as err:
        print(f"cannot load {LIBRARY}: {err}", file=sys.stderr)
        return 3
    lib.postfix.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_short)]
    lib.postfix.restype = ctypes.c_long
    lib.calcPerform.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double), ctypes.c_char_p]
    lib.calcPerform.restype = ctypes.c_long
    lib.calcArgUsage.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong)]
    lib.calcArgUsage.restype = ctypes.c_long
    lib.calcErrorStr.argtypes = [ctypes.c_short]
    lib.calcErrorStr.restype = ctypes.c_char_p
    out = []
    for case in json.load(sys.stdin):
        result, died, _ = run_forked(lambda: one(lib, case), 10)
        out.append({"status": "crashed"} if died else result)
    json.dump(out, sys.stdout)
    return 0


def one(lib, case):
    expr = case["expr"].encode()
    buf = ctypes.create_string_buffer(max(256, len(expr) * 21))
    err = ctypes.c_short(0)
    status = lib.postfix(expr, buf, ctypes.byref(err))
    if status != 0:
        return {"status": int(status), "error": lib.calcErrorStr(err.value).decode()}
    args = (ctypes.c_double * NARGS)(*[float(a) for a in (case.get("args", []) + [0.0] * NARGS)[:NARGS]])
    result = ctypes.c_double(float(case.get("val", 0)))
    perform = lib.calcPerform(args, ctypes.byref(result), buf)
    inputs = ctypes.c_ulong(0)
    stores = ctypes.c_ulong(0)
    lib.calcArgUsage(buf, ctypes.byref(inputs), ctypes.byref(stores))
    return {"status": 0, "perform": int(perform), "result": number(result.value),
            "args": [number(a) for a in args], "inputs": inputs.value, "stores": stores.value}


if __name__ == "__main__":
    sys.exit(main())
