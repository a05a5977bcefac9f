"""What the fork tests share: running a forking program, and reaping its children.

The programs run as scripts, in a process group of their own that is killed whatever
happens. They import :func:`start_threads`, :func:`fork_each` and :func:`reap` from this
module: :func:`run_program` puts this folder on their ``PYTHONPATH``.
"""

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

RUN_LIMIT_S = 120  # ends a hung run; a healthy one takes a few seconds
REAP_LIMIT_S = 40
HERE = Path(__file__).parent
RESULT = "RESULT:"  # starts the line a program prints its result on, as JSON


def start_threads(target, count=4):
    """``count`` daemon threads running ``target``, started."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def fork_each(count, child, before_each=lambda: None):
    """Fork ``count`` children, the i-th running ``child(i)``, which ends the child (with
    ``os._exit``); call ``before_each()`` before each fork. Returns the children's pids."""
    pids = []
    for index in range(count):
        before_each()
        pid = os.fork()
        if pid == 0:
            child(index)
            os._exit(70)  # not reached when ``child`` ends the child, as it must
        pids.append(pid)
    return pids


def reap(pids, limit_s=REAP_LIMIT_S):
    """Exit codes of the children that ended within ``limit_s``; kill and count the rest."""
    codes, hung = [], 0
    deadline = time.monotonic() + limit_s
    for pid in pids:
        fd = os.pidfd_open(pid)
        ended, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        os.close(fd)
        if not ended:
            hung += 1
            os.kill(pid, signal.SIGKILL)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    return {"codes": codes, "hung": hung}


def run_program(tmp_path, program, args=(), env=None):
    """Run ``program`` (Python source) to its end; return the result it printed (JSON, on
    a line that starts with RESULT) and what it wrote on stderr. It must exit with 0.

    ``env`` is added to this process's environment; a value of None removes the variable.
    """
    script = tmp_path / "forker.py"
    script.write_text(program)
    env = {**os.environ, **(env or {})}
    env = {name: value for name, value in env.items() if value is not None}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    with subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=RUN_LIMIT_S)
        finally:
            kill_group(process)
    assert 0 == process.returncode, stdout + stderr
    printed = [line for line in stdout.splitlines() if line.startswith(RESULT)]
    assert printed, stdout + stderr
    return json.loads(printed[-1].removeprefix(RESULT)), stderr


def kill_group(process):
    """SIGKILL to the process group ``process`` leads, then reap ``process``."""
    with contextlib.suppress(ProcessLookupError):  # the group has ended
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
