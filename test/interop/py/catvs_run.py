"""Run the catvs CA server conformance suite and write one result per case.

usage: catvs_run.py CATVS_DIR list
       catvs_run.py CATVS_DIR run OUT.json [CASE...]

`list` prints the case ids (catvs.server.test_ops.TestScalar.test_get, ...)
one a line. `run` runs the cases (all by default) against the server that the
DUT environment variable starts, as the suite's PY3_PORT.md says, and writes
{"id": {"outcome": "pass"|"fail"|"error"|"skip", "detail": traceback}} to
OUT.json. The server's own output and unittest's report go to stdout/stderr.

CATVS_TIMEOUT, in seconds, replaces the suite's 0.5 s wait for each reply: on
a loaded two-core machine EPICS base's own softIoc misses 0.5 s now and then.
The four cases that expect no reply wait that long too.
"""
import json
import os
import sys
import unittest


def cases(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from cases(t)
        else:
            yield t


class Recorder(unittest.TextTestResult):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.outcomes = {}

    def _set(self, test, outcome, detail=''):
        # An error in cleanup after a failure keeps the first outcome's detail too.
        prev = self.outcomes.get(test.id())
        if prev and prev['outcome'] != 'pass':
            prev['detail'] += '\n' + detail
            return
        self.outcomes[test.id()] = {'outcome': outcome, 'detail': detail}

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, 'pass')

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, 'fail', self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, 'error', self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, 'skip', reason)


def main():
    catvs_dir, verb = sys.argv[1], sys.argv[2]
    sys.path.insert(0, catvs_dir)
    suite = unittest.defaultTestLoader.loadTestsFromName('catvs.server')
    if os.environ.get('CATVS_TIMEOUT'):
        import catvs.util
        catvs.util.TestMixinUDP.timeout = float(os.environ['CATVS_TIMEOUT'])
    if verb == 'list':
        for t in cases(suite):
            print(t.id())
        return 0
    out, wanted = sys.argv[3], set(sys.argv[4:])
    if wanted:
        suite = unittest.TestSuite([t for t in cases(suite) if t.id() in wanted])
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Recorder)
    result = runner.run(suite)
    with open(out, 'w') as f:
        json.dump(result.outcomes, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
