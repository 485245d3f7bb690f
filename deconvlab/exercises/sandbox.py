"""The grader's side of the process that runs a student's file; imports the standard library, NumPy and ``child``.

``Sandbox(path, exercise, allowed, ...)`` starts ``child.py`` in a new process group with a memory and a CPU-time
limit and loads the student's file there; ``request(message, deadline)`` sends one request and waits for the
reply until the wall-clock ``deadline`` (a ``time.monotonic()`` value). A child that does not answer in time
is killed with SIGKILL, with every process it started (it cannot ignore that signal), and the request raises
``CheckTimeout``; a child that ends without answering (``os._exit``, a crash, a limit) raises ``ChildEnded``.
Both are BaseExceptions, so that nothing between the request and the grader (Hypothesis, a check) swallows
them. The grader never unpickles anything the child sends (``child.decode``).

With ``numpy_only`` (the default) the child runs without the site folder (``python -S``) and sees NumPy
through a folder that holds a link to NumPy alone (``numpy_folder``): deconvlab, SciPy and PyTorch are not
importable there at all. Otherwise (an exercise that trains a deconvlab network) it sees the site folder and
this deconvlab. Unix only (``resource``, ``select``, process groups).
"""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import child

CHILD_SCRIPT = os.path.abspath(child.__file__)
MEMORY_LIMIT_MB = 2048
# The child's environment: one thread for every library that would start more (the grader's checks run one
# call at a time, and several graders may share a machine).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                    "DECONVLAB_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")


class CheckTimeout(BaseException):
    """A check ran past its wall-clock limit; the process running the student's code was killed."""


class ChildEnded(BaseException):
    """The process running the student's code ended without answering; ``reason`` says how."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def numpy_folder():
    """A new temporary folder holding links to NumPy's package folder (and to the folder of libraries its
    wheel bundles, ``numpy.libs``, when there is one), so that a process whose ``sys.path`` is that folder and
    the standard library can import NumPy and nothing else. The caller removes it (``shutil.rmtree``)."""
    site = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    folder = tempfile.mkdtemp(prefix="deconvlab-numpy-")
    for name in os.listdir(site):
        if name == "numpy" or (name.startswith("numpy") and name.endswith(".libs")):
            os.symlink(os.path.join(site, name), os.path.join(folder, name))
    return folder


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _send_all(fd, data, deadline):
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        _, writable, _ = select.select([], [fd], [], remaining)
        if writable:
            try:
                view = view[os.write(fd, view[:1 << 16]):]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                return True  # the child is gone; reading its answer says how
    return True


class Sandbox:
    """One child process running the student's file ``path`` for exercise ``exercise``.

    ``allowed``: the module names the file may import; ``wanted``: the names the grader will call
    (``defined`` says which of them the file defines); ``cpu_seconds``: the child's CPU-time limit;
    ``numpy_path``: the folder from ``numpy_folder()`` (numpy_only mode). Construction raises CheckTimeout if
    loading the file takes past ``deadline``; ``load_error`` holds why the file cannot be graded, or None.
    """

    def __init__(self, path, exercise, allowed, wanted, deadline, cpu_seconds, numpy_only=True, numpy_path=None,
                 memory_mb=MEMORY_LIMIT_MB):
        self.exercise = exercise
        command = [sys.executable, "-I", "-B"] + (["-S"] if numpy_only else [])
        command += [CHILD_SCRIPT, "--memory", str(int(memory_mb) << 20), "--cpu", str(int(cpu_seconds) + 1)]
        if numpy_only:
            command += ["--fsize", "--path", numpy_path]
        else:
            deconvlab_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            command += ["--path", deconvlab_root]
        env = {k: os.environ[k] for k in PASSED_VARIABLES if k in os.environ}
        env.update({k: "1" for k in THREAD_VARIABLES})
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                        cwd=os.path.dirname(os.path.abspath(path)) or None)
        os.set_blocking(self.process.stdin.fileno(), False)
        os.set_blocking(self.process.stdout.fileno(), False)
        self._buffer = b""
        self.load_error, self.defined = None, {}
        try:
            reply = self.request({"op": "load", "path": os.path.abspath(path), "exercise": exercise,
                                  "allowed": list(allowed), "wanted": list(wanted)}, deadline)
        except ChildEnded as ended:
            self.load_error = f"{exercise}.py cannot be imported: {ended.reason}"
            return
        if reply.get("ok"):
            self.defined = reply["defined"]
        else:
            self.load_error = f"{exercise}.py cannot be imported: {reply.get('error')}"

    @property
    def alive(self):
        return self.process.poll() is None

    def request(self, message, deadline):
        """Send ``message`` and return the child's decoded reply (a dict); CheckTimeout or ChildEnded."""
        if not self.alive:
            raise ChildEnded(self._ended())
        if not _send_all(self.process.stdin.fileno(), child.encode(message), deadline):
            self.kill()
            raise CheckTimeout()
        reply = self._receive(deadline)
        if not isinstance(reply, dict):
            self.kill()
            raise ChildEnded("its answer was not a reply the grader understands")
        return reply

    def _receive(self, deadline):
        fd = self.process.stdout.fileno()
        size = None
        while size is None or len(self._buffer) < size:
            if size is None and len(self._buffer) >= 16:
                try:
                    size = child.frame_size(self._buffer[:16])
                except ValueError as exc:
                    self.kill()
                    raise ChildEnded(f"it sent a message the grader refuses ({exc})") from None
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise CheckTimeout()
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise ChildEnded(self._ended())
            self._buffer += chunk
        frame, self._buffer = self._buffer[:size], self._buffer[size:]
        try:
            return child.decode(frame)
        except Exception as exc:  # malformed frames, deep nesting: never trusted
            self.kill()
            raise ChildEnded(f"it sent a message the grader cannot read ({type(exc).__name__})") from None

    def _ended(self):
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        if code is not None and code < 0:
            why = {signal.SIGXCPU: " (its CPU-time limit)", signal.SIGKILL: "", signal.SIGXFSZ:
                   " (it tried to write a file)", signal.SIGSEGV: " (a crash)"}.get(-code, "")
            return f"its process was killed by {_signal_name(-code)}{why} before it gave a result"
        return (f"its process ended (exit code {code}) before it gave a result: does the code call os._exit, "
                "exit or quit?")

    def kill(self):
        """Kill the child and every process it started (SIGKILL to its process group); wait for it."""
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.process.wait()

    def close(self):
        """End the child: it leaves when its input closes; killed if it does not within a second."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def remove_folder(folder):
    """Remove a folder made by ``numpy_folder`` (the links only, never what they point to)."""
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
