"""Run a piece of work in a forked child, for the libCom oracles: a crash or
a hang inside the C library (macLib loops forever on some inputs) then ends
the child, not the test. The child's result comes back as JSON on a pipe."""
import json
import os
import signal
import tempfile


def run_forked(work, timeout, capture_stderr=False):
    """Run work() in a child, killed after `timeout` seconds.

    Returns (result, died, stderr): the JSON-able value work() returned (or
    {"failure": "Type: message"} when it raised), whether the child died
    without answering (killed, crashed), and what it wrote to stderr when
    capture_stderr is set.
    """
    read_fd, write_fd = os.pipe()
    err_fd, err_path = tempfile.mkstemp(prefix="oracle-err-") if capture_stderr else (None, None)
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            if err_fd is not None:
                os.dup2(err_fd, 2)
            signal.alarm(timeout)
            data = json.dumps(work())
        except Exception as exc:  # report, don't hang the parent
            data = json.dumps({"failure": "%s: %s" % (type(exc).__name__, exc)})
        payload = data.encode("utf-8")
        while payload:
            payload = payload[os.write(write_fd, payload):]
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    stderr = ""
    if err_fd is not None:
        os.close(err_fd)
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        os.unlink(err_path)
    died = not chunks or os.WIFSIGNALED(status)
    result = None if died else json.loads(b"".join(chunks).decode("utf-8"))
    return result, died, stderr
