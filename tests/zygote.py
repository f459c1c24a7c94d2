"""A `codegov` command for the workflow replay (tests/test_workflows.py) that starts without importing anything.

Each `codegov update` of the replay spends about 3 s of CPU importing pandas, pyarrow, Jinja and Great
Expectations before it reads a file. `Zygote` starts one Python process that imports them once and waits on a
Unix socket; the `codegov` it writes (first on the replay's PATH) sends its arguments, working folder,
environment and standard input, output and error to that process, which forks a child that runs
codegov.cli.main exactly as the console script does (sys.argv, then sys.exit(main())), and answers with the
child's exit status. The child is a new process with the step's working folder, environment and file
descriptors: what differs from the console script is only that its modules were imported before it began.
`Zygote.run` asks the same from Python (tests/test_crash_safety.py: the killed ingests, each a script run in a
session of its own), and `preload` chooses what the server imports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

# The server: imports, then one forked child per request, one request at a time (the replay's steps run in turn).
SERVER = r'''
import array, json, os, signal, socket, sys
sys.path[0] = sys.argv[2]  # as the console script in the venv's bin folder, never the working folder
import codegov.cli
PRELOAD

srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(4)
print("ready", flush=True)
child = None
while child is None:
    conn, _ = srv.accept()
    data, fds = b"", []
    while True:
        msg, anc, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
        for level, kind, body in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += array.array("i", body[: len(body) - len(body) % 4]).tolist()
        data += msg
        if not msg or (len(data) >= 8 and len(data) >= 8 + int.from_bytes(data[:8], "big")):
            break
    request = json.loads(data[8:])
    pid = os.fork()
    if pid == 0:
        child = request
        srv.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        break
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    conn.sendall(str(os.waitstatus_to_exitcode(status)).encode())
    conn.close()

# the child: what the console script does, in the caller's folder with the caller's environment
signal.signal(signal.SIGINT, signal.default_int_handler)
os.chdir(child["cwd"])
os.environ.clear()
os.environ.update(child["env"])
os.environ["GX_ANALYTICS_ENABLED"] = "false"  # what importing checks (checks/__init__.py) sets
sys.argv = child["argv"]
if child.get("session"):  # a session of its own: the child may kill its process group, never the server's
    os.setsid()
if child.get("script") is not None:  # a script of the caller's (as `python -c SCRIPT ARGS...`) instead of main
    exec(compile(child["script"], "<script>", "exec"), {"__name__": "__main__"})
    sys.exit(0)
sys.exit(codegov.cli.main())
'''

# What the server imports before it waits: everything `codegov update` needs (the workflow replay)
UPDATE_PRELOAD = """
import codegov.update, codegov.commands
import checks.context, checks.runner
checks.context.import_gx()
import ingest.build, ingest.repository, playbooks.lookup, playbooks.report, playbooks.site, playbooks.write
import pandas, pyarrow, pyarrow.parquet, jinja2
import playbooks.denials  # every template compiled (playbooks.text._COMPILED) by the environment with every filter
env = playbooks.denials._env()
for name in env.list_templates():
    env.get_template(name)
import gc  # what the server holds, out of the collector's walks in every child (the pre-fork server's gc.freeze)
gc.freeze()
"""

CLIENT = r'''
import array, json, os, signal, socket, sys
request = json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCKET)
s.sendmsg([len(request).to_bytes(8, "big") + request],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
answer = b""
while chunk := s.recv(64):
    answer += chunk
status = int(answer or b"1")
if status < 0:  # killed by a signal: so is this process
    signal.signal(-status, signal.SIG_DFL)
    os.kill(os.getpid(), -status)
sys.exit(status)
'''


class Zygote:
    """The server process and the `codegov` command that talks to it (write_command)."""

    def __init__(self, env: dict[str, str], preload: str = UPDATE_PRELOAD):
        self.folder = Path(tempfile.mkdtemp(prefix="codegov-zygote-"))  # short: a socket path has 108 bytes
        self.socket = self.folder / "codegov.sock"
        server = SERVER.replace("PRELOAD", preload)
        self.proc = subprocess.Popen([sys.executable, "-c", server, str(self.socket), str(VENV_BIN)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"the codegov zygote did not start (exit status {self.proc.poll()})")

    def write_command(self, folder: Path) -> Path:
        command = folder / "codegov"
        command.write_text(f"#!{sys.executable} -I\nSOCKET = {str(self.socket)!r}\n{CLIENT}", encoding="utf-8")
        command.chmod(0o755)
        return command

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], script: str | None = None,
            session: bool = False, stdout=None, stderr=None) -> int:
        """Run codegov.cli.main (or `script`, with sys.argv = argv) in a child forked from the server, in `cwd`
        with `env`, standard input from /dev/null and output to the files given (else /dev/null), in a session of
        its own when asked (as subprocess's start_new_session); its exit status, negative when a signal killed
        it (as subprocess's returncode)."""
        import array
        import json
        import os
        import socket

        request = json.dumps({"argv": [str(a) for a in argv], "cwd": str(cwd), "env": env, "script": script,
                              "session": session}).encode()
        with open(os.devnull, "r+b") as null:
            fds = [null.fileno(), (stdout or null).fileno(), (stderr or null).fileno()]
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(self.socket))
                s.sendmsg([len(request).to_bytes(8, "big") + request],
                          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
                answer = b""
                while chunk := s.recv(64):
                    answer += chunk
        return int(answer or b"1")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)
