"""The attacker's suite against the script sandbox, through a real ``sealroom serve``.

Each test is one attempt by a room's analyst to break out of, or break, the sandbox; it passes
only when the attempt fails. After every test (the autouse ``_server_stays_healthy`` fixture):
``GET /health`` answers 200, the normal ``upper`` node of the same room still returns ``HELLO``
(so its input is intact), and the server's scratch holds no job directory and no bytes.

One server for the whole module, with small job limits so the file stays fast. The attack room
(analyst BANK) has a raw input and one Python node per attack; a second room, of another user,
holds a unique marker the attacks must never see. Failing attacks print :data:`LEAK` first: the
error the analyst gets names the code and the limit, never anything the script printed.

Host-side observations (process list, scratch contents) are made from /proc and the file system
of this machine, which the test process shares with the server. A known limit that an attempt can
still reach is an ``xfail(strict=True)`` test with the limit in the reason, so closing it turns
the test into a failure that asks for the mark to go.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    ContainerComputationNode,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from sealroom.compute.sandbox import DEFAULT_LIMITS, python_env
from tests.integration.conftest import BANK, INSURER, ServerProcess, start_server, stop_server

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

MIB: Final = 1 << 20
# Small limits keep the file fast; every number below that names a limit derives from these.
JOB_TIMEOUT_SECONDS: Final = 5
JOB_MEMORY_MIB: Final = 512
JOB_OUTPUT_MIB: Final = 16
# Not configurable on the server: the sandbox defaults apply.
MAX_OUTPUT_FILES: Final = DEFAULT_LIMITS.max_output_files
# How long the SDK may wait for any one job: the job timeout plus start-up and clean-up.
WAIT_SECONDS: Final = 60.0
# A killed job must be reported within this much of its timeout.
TIMEOUT_SLACK_SECONDS: Final = 10.0
#: Printed (stdout and stderr) by every failing attack: must never reach the analyst.
LEAK: Final = "attacker-output-7c1e93"
INPUT_DATA: Final = b"hello"
# The normal job run after every attack.
UPPERCASE_SCRIPT: Final = """
with open("/input/input_data_node", "r") as input_file:
    input_data = input_file.read()
with open("/output/uppercase.txt", "w") as output_file:
    output_file.write(input_data.upper())
"""
_RM: Final = "/usr/bin/rm"  # removes trees deeper than Python's recursion limit


# -- the server and its rooms ------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """What the attacks aim at; known once the server runs, before the rooms exist."""

    server: ServerProcess
    #: SEALROOM_SCRATCH_ROOT of the server (RAM-backed, like the default).
    scratch_root: Path
    #: Bytes only the other room's input holds.
    other_marker: bytes
    #: An abstract unix socket name the test may listen on (host network namespace).
    abstract_socket: str
    #: Prefix of the thread/process names (comm) the survivor attacks set.
    comm_prefix: str

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    @property
    def sealing_key_file(self) -> str:
        return self.server.env["SEALROOM_SEALING_KEY_FILE"]


@dataclass(frozen=True)
class Rig(Targets):
    room: AnalyticsDcr
    other_room: AnalyticsDcr

    def node(self, name: str, room: AnalyticsDcr | None = None) -> ContainerComputationNode:
        node = (room or self.room).get_node(name)
        assert isinstance(node, ContainerComputationNode), name
        return node

    def run(self, name: str) -> zipfile.ZipFile:
        return self.node(name).run_computation_and_get_results_as_zip(timeout=WAIT_SECONDS)

    def attempt(self, name: str) -> zipfile.ZipFile | sr.ComputationError:
        try:
            return self.run(name)
        except sr.ComputationError as error:
            return error

    def fail(self, name: str) -> tuple[sr.ComputationError, float]:
        """Run ``name``, expect it to fail; the error and the wall time it took."""
        started = time.monotonic()
        with pytest.raises(sr.ComputationError) as caught:
            self.run(name)
        elapsed = time.monotonic() - started
        assert LEAK not in str(caught.value), "the script's own output reached the analyst"
        return caught.value, elapsed


def _script(body: str, *, noisy: bool = True) -> str:
    """A node's script; ``noisy`` ones print :data:`LEAK` on both streams before attacking."""
    prelude = f"import sys\nprint({LEAK!r}, flush=True)\nprint({LEAK!r}, file=sys.stderr)\n"
    return (prelude if noisy else "") + textwrap.dedent(body)


def _outcome_script(attempt: str) -> str:
    """Runs ``attempt``; writes 'blocked <OSError subclass>' or 'OPEN' to /output/result.txt."""
    return _script(
        f"""
        import os, socket
        try:
            {attempt}
        except OSError as exc:
            outcome = "blocked " + type(exc).__name__
        else:
            outcome = "OPEN"
        with open("/output/result.txt", "w") as out:
            out.write(outcome)
        """,
        noisy=False,
    )


NETWORK_ATTEMPTS: Final = {
    "net_server_port": "socket.create_connection(('127.0.0.1', {port}), timeout=2)",
    "net_server_port_ipv6": "socket.create_connection(('::1', {port}), timeout=2)",
    "net_outside": "socket.create_connection(('1.1.1.1', 443), timeout=2)",
    "net_dns": "socket.getaddrinfo('example.com', 80)",
    "net_raw_packets": "socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
    "net_host_abstract_unix_socket": (
        "s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect({abstract!r})"
    ),
}

# Host paths the script must not read (a file's contents or a directory's listing), by node.
READ_TARGETS: Final = {
    "read_data_dir": "{data_dir}",
    "read_sealing_key": "{key_file}",
    "read_default_sealing_key": str(Path.home() / ".local/state/sealroom/sealing.key"),
    "read_scratch_root": "{scratch_root}",
    "read_etc_shadow": "/etc/shadow",
    "read_etc_passwd": "/etc/passwd",
}

WRITE_INPUT_SCRIPT: Final = """
import json, os
node = "/input/input_data_node"
attempts = {
    "overwrite": lambda: open(node, "r+b").write(b"PWNED"),
    "append": lambda: open(node, "ab").write(b"PWNED"),
    "remove": lambda: os.remove(node),
    "rename": lambda: os.rename(node, "/input/moved"),
    "chmod": lambda: os.chmod(node, 0o777),
    "new file": lambda: open("/input/new_node", "wb").write(b"PWNED"),
    "remount": lambda: __import__("ctypes").CDLL(None).mount(None, b"/input", None, 32, None),
}
results = {}
for name, attempt in attempts.items():
    try:
        returned = attempt()
    except OSError:
        results[name] = "blocked"
    else:
        results[name] = "blocked" if returned == -1 else "WRITTEN"
json.dump(results, open("/output/result.json", "w"))
"""

ENVIRON_SCRIPT: Final = """
import json, os
pids = sorted(p for p in os.listdir("/proc") if p.isdigit())
environ = b""
for pid in pids:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        environ += handle.read()
keys = sorted(e.split(b"=", 1)[0].decode() for e in environ.split(b"\\0") if e)
json.dump({"pids": pids, "keys": keys, "environ": environ.hex()}, open("/output/result.json", "w"))
"""

# Reads every file it can see (names and contents) looking for the other room's marker. Skipped:
# /proc, and the read-only binds of host system software (/usr, the interpreter's prefix, the
# worker's site-packages), which the server never writes to and which are too big to read
# within the job timeout. The needle is hex in the script so /input/code does not match.
SEARCH_SCRIPT: Final = """
import json, os, stat, sys
needle = bytes.fromhex({needle_hex!r})
skip = {{"/proc", "/usr", sys.base_prefix, "/opt/sealroom/site-packages"}}
# Control: the search finds the needle in a file of the sandbox's own.
with open("/tmp/control.bin", "wb") as control:
    control.write(b"before " + needle + b" after")
found, files, dirs, stack = [], 0, 0, ["/"]
while stack:
    directory = stack.pop()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        continue
    dirs += 1
    for entry in entries:
        if needle in os.fsencode(entry.name):
            found.append(entry.path)
        if entry.path in skip:
            continue
        # lstat, not the directory entry's type: a device bound over a file (/dev/urandom) is
        # listed as a regular file.
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            stack.append(entry.path)
        elif stat.S_ISREG(mode):
            try:
                with open(entry.path, "rb") as handle:
                    tail = b""
                    while block := handle.read(1 << 20):
                        if needle in tail + block:
                            found.append(entry.path)
                            break
                        tail = block[-len(needle):]
            except OSError:
                continue
            files += 1
result = {{"found": found, "files": files, "dirs": dirs, "top": sorted(os.listdir("/"))}}
json.dump(result, open("/output/result.json", "w"))
"""

# What the sandbox's root holds for a Python node.
SANDBOX_ROOT_ENTRIES: Final = [
    "bin", "dev", "input", "lib", "lib64", "opt", "output", "proc", "root", "sbin", "tmp", "usr",
]  # fmt: skip

# The other room's node: holds its plaintext in the scratch (input + output) until its timeout.
HOLD_SCRIPT: Final = """
import shutil, time
shutil.copy("/input/confidential", "/output/copy.bin")
kept = open("/input/confidential", "rb").read()
time.sleep(3600)
"""

OUTPUT_TRICKS: Final = {
    "out_symlink_to_etc_passwd": "os.symlink('/etc/passwd', '/output/passwd')",
    "out_symlink_to_data_dir": "os.symlink({data_dir!r}, '/output/data')",
    "out_symlink_relative_up": "os.symlink('../../../..', '/output/up')",
    "out_hard_link": "os.link('/output/leak.txt', '/output/second-name')",
    "out_fifo": "os.mkfifo('/output/pipe')",
}

DOTDOT_SCRIPT: Final = """
import json, os
os.makedirs("/output/sub")
results = {}
for path in ("/output/../evil.txt", "/output/sub/../../evil.txt", "/output/../input/evil.txt"):
    try:
        with open(path, "w") as handle:
            handle.write("evil")
    except OSError:
        results[path] = "blocked"
    else:
        results[path] = "WRITTEN"
os.makedirs("/output/nested/deeper")
open("/output/nested/deeper/ok.txt", "w").write("ok")
open("/output/...", "w").write("three dots is a legal name")
open("/output/..evil", "w").write("so is this")
json.dump(results, open("/output/result.json", "w"))
"""

BACKSLASH_SCRIPT: Final = """
open("/output/..\\\\..\\\\evil.txt", "w").write("a Windows extractor's zip-slip")
open("/output/C:\\\\evil.txt", "w").write("and a drive path")
"""

#: Each bomb, and the line of its body where it must fail (the refused call, not a timeout).
FORK_BOMBS: Final = {
    "fork_loop": ("import os\nwhile True:\n    os.fork()\n", 3),
    "fork_subprocess": (
        "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', ':(){ :|:& };:'])\n",
        2,
    ),
    "fork_posix_spawn": ("import os\nos.posix_spawn('/usr/bin/sleep', ['sleep', '60'], {})\n", 2),
}

MEMORY_BOMBS: Final = {
    "memory_one_block": ("blob = bytearray(2 << 30)\n", 1),
    "memory_growing_list": (
        "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n",
        3,
    ),
    "memory_anonymous_mmap": ("import mmap\nmapped = mmap.mmap(-1, 2 << 30)\n", 2),
}
#: Lines :func:`_script` puts before a noisy body.
PRELUDE_LINES: Final = 3

# Memory held outside the address space, 1.5 times the job's limit, in 64 MiB pieces; each
# script finishes well within the timeout, so only an enforced limit can make it fail.
_HELD_PIECES: Final = (JOB_MEMORY_MIB * 3 // 2) // 64
MEMORY_OUTSIDE_ADDRESS_SPACE: Final = {
    "memory_in_dev_shm": f"""
        chunk = b"x" * (64 << 20)
        for i in range({_HELD_PIECES}):
            with open(f"/dev/shm/piece{{i}}", "wb") as handle:
                handle.write(chunk)
        """,
    "memory_in_memfds": f"""
        import os
        chunk, held = b"x" * (64 << 20), []
        for i in range({_HELD_PIECES}):
            fd = os.memfd_create(f"piece{{i}}")
            assert os.write(fd, chunk) == len(chunk)
            held.append(fd)
        """,
    # SysV shared memory: a detached segment's pages are not in anyone's address space.
    "memory_in_sysv_shm": f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        for i in range({_HELD_PIECES}):
            segment = libc.shmget(0, 64 << 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
            if segment < 0:
                raise PermissionError(ctypes.get_errno(), "shmget refused")
            address = libc.shmat(segment, None, 0)
            ctypes.memset(address, 120, 64 << 20)
            libc.shmdt(ctypes.c_void_p(address))
        """,
}

HUGE_OUTPUT_SCRIPT: Final = """
chunk = b"x" * (1 << 20)
try:
    with open("/output/huge.bin", "wb") as handle:
        for _ in range(10 * 1024):  # 10 GiB
            handle.write(chunk)
except OSError:
    pass  # the per-file size limit: end quietly, as if all was written
"""

# 16 files of the whole output limit each, then a pause so the host can look at the scratch.
SPREAD_OUTPUT_SCRIPT: Final = f"""
import time
chunk = b"x" * ({JOB_OUTPUT_MIB} << 20)
for i in range(16):
    with open(f"/output/part{{i}}.bin", "wb") as handle:
        handle.write(chunk)
time.sleep(2)
"""

MANY_FILES_SCRIPT: Final = """
for i in range(1_000_000):
    open(f"/output/{i}", "w").close()
"""

DEEP_TREE_SCRIPT: Final = """
import os
os.chdir("/output")
for _ in range(3000):  # deeper than Python's recursion limit, relative paths: no PATH_MAX
    os.mkdir("d")
    os.chdir("d")
open("bottom.txt", "w").write("x")
"""

SURVIVOR_SCRIPT: Final = """
import ctypes, os, subprocess, threading, time
libc = ctypes.CDLL(None)
def name(comm):
    libc.prctl(15, comm.encode(), 0, 0, 0)  # PR_SET_NAME: shows in the host's /proc
name({main!r})
def worker():
    name({thread!r})
    while True:
        time.sleep(0.05)
threading.Thread(target=worker).start()  # not a daemon: the interpreter would wait for it
for spawn in (os.fork, lambda: subprocess.Popen(["/usr/bin/sleep", "3600"]).pid):
    try:
        pid = spawn()
    except OSError:
        continue
    if pid == 0:
        name({child!r})
        time.sleep(3600)
        os._exit(0)
time.sleep(3600)
"""


def _survivor_comms(prefix: str) -> dict[str, str]:
    # comm holds 15 bytes: the prefix (9) and a letter per role.
    return {role: f"{prefix}{role[0]}" for role in ("main", "thread", "child")}


def _attack_scripts(rig: Targets) -> dict[str, str]:
    paths = {
        "data_dir": str(rig.server.data_dir),
        "key_file": rig.sealing_key_file,
        "scratch_root": str(rig.scratch_root),
    }
    scripts = {
        name: _outcome_script(attempt.format(port=rig.port, abstract=rig.abstract_socket))
        for name, attempt in NETWORK_ATTEMPTS.items()
    }
    for name, target in READ_TARGETS.items():
        attempt = (
            f"target = {target.format(**paths)!r}; "
            "open(target, 'rb').read() if os.path.isfile(target) else os.listdir(target)"
        )
        scripts[name] = _outcome_script(attempt)
    scripts["write_input"] = _script(WRITE_INPUT_SCRIPT, noisy=False)
    scripts["proc_environ"] = _script(ENVIRON_SCRIPT, noisy=False)
    scripts["search_other_room"] = _script(
        SEARCH_SCRIPT.format(needle_hex=rig.other_marker.hex()), noisy=False
    )
    for name, trick in OUTPUT_TRICKS.items():
        scripts[name] = _script(
            f"import os\nopen('/output/leak.txt', 'w').write({LEAK!r})\n"
            + trick.format(data_dir=str(rig.server.data_dir))
            + "\n"
        )
    scripts["out_dotdot"] = _script(DOTDOT_SCRIPT, noisy=False)
    scripts["out_backslash"] = _script(BACKSLASH_SCRIPT, noisy=False)
    for name, (bomb, _line) in (*FORK_BOMBS.items(), *MEMORY_BOMBS.items()):
        scripts[name] = _script(bomb)
    for name, bomb in MEMORY_OUTSIDE_ADDRESS_SPACE.items():
        scripts[name] = _script(bomb)
    scripts["infinite_loop"] = _script("while True:\n    pass\n")
    scripts["huge_output"] = _script(HUGE_OUTPUT_SCRIPT)
    scripts["spread_output"] = _script(SPREAD_OUTPUT_SCRIPT)
    scripts["many_files"] = _script(MANY_FILES_SCRIPT)
    scripts["deep_tree"] = _script(DEEP_TREE_SCRIPT)
    scripts["survivor"] = _script(SURVIVOR_SCRIPT.format(**_survivor_comms(rig.comm_prefix)))
    return scripts


def _publish_attack_room(rig: Targets, client: sr.Client) -> AnalyticsDcr:
    scripts = {"upper": UPPERCASE_SCRIPT, **_attack_scripts(rig)}
    builder = AnalyticsDcrBuilder(client=client).with_name("attacks").with_owner(BANK)
    builder.add_node_definition(RawDataNodeDefinition(name="input_data_node", is_required=True))
    for name, script in scripts.items():
        builder.add_node_definition(
            PythonComputeNodeDefinition(name=name, script=script, dependencies=["input_data_node"])
        )
    builder.add_participant(BANK, data_owner_of=["input_data_node"], analyst_of=list(scripts))
    room = client.publish_analytics_dcr(builder.build())
    raw = room.get_node("input_data_node")
    assert raw is not None
    raw.upload_and_publish_dataset(io.BytesIO(INPUT_DATA), sr.Key(), "d.txt")  # type: ignore[union-attr]
    return room


def _publish_other_room(client: sr.Client, marker: bytes) -> AnalyticsDcr:
    builder = AnalyticsDcrBuilder(client=client).with_name("other").with_owner(INSURER)
    builder.add_node_definition(RawDataNodeDefinition(name="confidential", is_required=True))
    builder.add_node_definition(
        PythonComputeNodeDefinition(name="hold", script=HOLD_SCRIPT, dependencies=["confidential"])
    )
    builder.add_participant(INSURER, data_owner_of=["confidential"], analyst_of=["hold"])
    room = client.publish_analytics_dcr(builder.build())
    raw = room.get_node("confidential")
    assert raw is not None
    data = b"other party's data: " + marker + b"\n"
    raw.upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "c.txt")  # type: ignore[union-attr]
    return room


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("escape-server")
    shm = Path("/dev/shm")  # the default scratch root; RAM-backed like production
    scratch_root = Path(
        tempfile.mkdtemp(prefix="sealroom-escape-", dir=shm if shm.is_dir() else root)
    )
    server = start_server(
        root,
        {
            "SEALROOM_JOB_TIMEOUT": str(JOB_TIMEOUT_SECONDS),
            "SEALROOM_JOB_MEMORY": str(JOB_MEMORY_MIB),
            "SEALROOM_JOB_OUTPUT": str(JOB_OUTPUT_MIB),
            "SEALROOM_SCRATCH_ROOT": str(scratch_root),
            "SEALROOM_WORKERS": "2",  # the other room's job runs beside an attack
        },
    )
    try:
        bank = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
        insurer = sr.create_client(INSURER, server.add_user(INSURER), api_url=server.url)
        targets = Targets(
            server=server,
            scratch_root=scratch_root,
            other_marker=b"OTHER-ROOM-" + secrets.token_hex(12).upper().encode(),
            abstract_socket=f"\0sealroom-escape-{secrets.token_hex(6)}",
            comm_prefix=f"sr{secrets.token_hex(3)}_",
        )
        rig = Rig(
            **vars(targets),
            room=_publish_attack_room(targets, bank),
            other_room=_publish_other_room(insurer, targets.other_marker),
        )
        yield rig
    finally:
        stop_server(server)
        subprocess.run([_RM, "-rf", "--", str(scratch_root)], check=False)


# -- host-side observations ----------------------------------------------------------------------


@dataclass(frozen=True)
class TreeUsage:
    bytes: int
    files: int
    unreadable: int


def _usage(root: Path, *, needle: bytes | None = None) -> tuple[TreeUsage, list[str]]:
    """Bytes and files under ``root`` (not following links), and files containing ``needle``."""
    total = files = unreadable = 0
    hits: list[str] = []
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:  # vanished while a job runs, or a path beyond PATH_MAX
            unreadable += 1
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                size = entry.stat(follow_symlinks=False).st_size
                total += size
                files += 1
                if needle is not None and entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as handle:
                        if needle in handle.read(64 * MIB):
                            hits.append(entry.path)
            except OSError:
                unreadable += 1
    return TreeUsage(total, files, unreadable), hits


def _job_dirs(rig: Rig) -> list[Path]:
    return sorted(rig.scratch_root.glob("sealroom-scratch-*/job-*"))


def _tasks_named(prefix: str) -> set[str]:
    """Names (comm) starting with ``prefix`` of every thread of every process on this host."""
    names = set()
    for task_comm in Path("/proc").glob("[0-9]*/task/[0-9]*/comm"):
        with contextlib.suppress(OSError):  # gone meanwhile
            comm = task_comm.read_text().strip()
            if comm.startswith(prefix):
                names.add(comm)
    return names


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The name field may hold spaces and parentheses: ppid follows its last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@contextlib.contextmanager
def _peak_usage(root: Path) -> Iterator[list[int]]:
    """Samples the bytes under ``root`` every few ms; yields a list holding the peak so far."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _usage(root)[0].bytes)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def _is_safe_member(name: str) -> bool:
    """A zip member name that extracts inside the target directory on every platform."""
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and "\\" not in name  # a separator on Windows
        and not (len(name) > 1 and name[1] == ":")  # a drive letter
        and all(part not in ("", ".", "..") for part in name.split("/"))
        and all(ord(char) >= 32 for char in name)
    )


@pytest.fixture(autouse=True)
def _server_stays_healthy(rig: Rig) -> Iterator[None]:
    yield
    assert rig.server.process.poll() is None, "the server died"
    assert httpx.get(f"{rig.server.url}/health", timeout=5).status_code == 200
    assert rig.run("upper").read("uppercase.txt") == INPUT_DATA.upper()
    # Nothing of any job stays in the scratch (plaintext inputs live there during a job).
    assert _wait_for(lambda: not _job_dirs(rig), 5), _job_dirs(rig)
    assert _usage(rig.scratch_root)[0].bytes == 0


# -- network -------------------------------------------------------------------------------------


@pytest.mark.parametrize("node", list(NETWORK_ATTEMPTS))
def test_no_network_connection_leaves_the_sandbox(rig: Rig, node: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(rig.abstract_socket)
    listener.listen(1)
    listener.settimeout(0.2)
    try:
        outcome = rig.run(node).read("result.txt").decode()
        with pytest.raises(TimeoutError):  # nothing knocked on the host's abstract socket
            listener.accept()
    finally:
        listener.close()
    assert outcome.startswith("blocked "), outcome


# -- file system ---------------------------------------------------------------------------------


@pytest.mark.parametrize("node", list(READ_TARGETS))
def test_host_files_outside_the_mounts_cannot_be_read(rig: Rig, node: str) -> None:
    assert rig.run(node).read("result.txt").decode() == "blocked FileNotFoundError"


def test_the_host_files_the_reads_aimed_at_exist(rig: Rig) -> None:
    # Control: the attempts above target real host paths, not typos.
    for path in (rig.server.data_dir, Path(rig.sealing_key_file), rig.scratch_root, "/etc/passwd"):
        assert Path(path).exists(), path


def test_the_input_cannot_be_written(rig: Rig) -> None:
    results = json.loads(rig.run("write_input").read("result.json"))
    assert results == dict.fromkeys(
        ["overwrite", "append", "remove", "rename", "chmod", "new file", "remount"], "blocked"
    )
    # The fixture's normal job then reads the input: still INPUT_DATA.


def test_proc_shows_only_the_script_and_none_of_the_servers_environment(rig: Rig) -> None:
    # Control: the server's own environment does hold what the script must not see.
    server_environ = Path(f"/proc/{rig.server.process.pid}/environ").read_bytes()
    assert b"SEALROOM_SEALING_KEY_FILE=" in server_environ
    result = json.loads(rig.run("proc_environ").read("result.json"))
    environ = bytes.fromhex(result["environ"])
    assert result["pids"] == ["1"]  # the script alone in its pid namespace
    assert b"SEALROOM_" not in environ
    assert str(rig.server.data_dir).encode() not in environ
    assert result["keys"] == sorted({"HOME", "LANG", "PWD", *python_env()})


def test_the_other_rooms_data_is_nowhere_in_the_sandbox(rig: Rig) -> None:
    # The other room's job keeps its plaintext in the scratch (input and output) while the
    # attack searches everything it can see.
    hold = rig.node("hold", rig.other_room)
    hold.run_computation()
    seen = _wait_for(lambda: bool(_usage(rig.scratch_root, needle=rig.other_marker)[1]), 10)
    assert seen, "control: the other room's plaintext never appeared in the host's scratch"
    result = json.loads(rig.run("search_other_room").read("result.json"))
    assert _usage(rig.scratch_root, needle=rig.other_marker)[1], "control: held during the search"
    assert result["found"] == ["/tmp/control.bin"]  # the control, and nothing else
    assert result["files"] > 0
    # What the search walked: everything at the sandbox's root (skips listed in SEARCH_SCRIPT).
    assert result["top"] == SANDBOX_ROOT_ENTRIES
    with pytest.raises(sr.ComputationError) as caught:
        hold.get_results_as_zip(timeout=WAIT_SECONDS)
    assert caught.value.code == "script_timeout"


# -- what the script leaves in /output -----------------------------------------------------------


@pytest.mark.parametrize("node", list(OUTPUT_TRICKS))
def test_links_and_special_files_in_the_output_are_refused(rig: Rig, node: str) -> None:
    error, _elapsed = rig.fail(node)
    assert error.code == "unsafe_output"
    assert "link or special file" in str(error)


def test_dotdot_paths_stay_inside_and_every_zip_member_is_a_safe_relative_path(
    rig: Rig, tmp_path: Path
) -> None:
    archive = rig.run("out_dotdot")
    assert json.loads(archive.read("result.json")) == {
        "/output/../evil.txt": "blocked",
        "/output/sub/../../evil.txt": "blocked",
        "/output/../input/evil.txt": "blocked",
    }
    names = sorted(archive.namelist())
    assert names == ["...", "..evil", "nested/deeper/ok.txt", "result.json"]
    assert all(_is_safe_member(name) for name in names), names
    archive.extractall(tmp_path / "x")
    extracted = [p for p in (tmp_path / "x").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((tmp_path / "x").resolve()) for p in extracted)


def test_backslash_names_do_not_reach_the_zip(rig: Rig) -> None:
    result = rig.attempt("out_backslash")
    if isinstance(result, sr.ComputationError):
        outcome = result.code
    else:
        unsafe = [name for name in result.namelist() if not _is_safe_member(name)]
        outcome = f"unsafe members: {unsafe}" if unsafe else "all members safe"
    # Refusing the output, or leaving such names out of the zip: both are safe.
    assert outcome in ("unsafe_output", "all members safe")


# -- processes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("node", list(FORK_BOMBS))
def test_fork_bombs_fail_at_once(rig: Rig, node: str) -> None:
    before = _descendants(rig.server.process.pid)
    error, elapsed = rig.fail(node)
    assert error.code == "script_failed"
    # fork/clone refused by the seccomp filter: the call itself fails (its error class is not
    # told with logs off: a script could choose it to carry data).
    assert f"script failed at line {PRELUDE_LINES + FORK_BOMBS[node][1]} of main.py" in str(error)
    assert elapsed < JOB_TIMEOUT_SECONDS  # refused, not stopped by the timeout
    assert _descendants(rig.server.process.pid) == before == set()


def test_nothing_of_a_timed_out_script_survives(rig: Rig) -> None:
    # The script names its threads (comm) so the host can see them. Host uids tell nothing
    # here: run as root, bwrap maps the sandbox's 65534 to the host's 0.
    comms = _survivor_comms(rig.comm_prefix)
    node = rig.node("survivor")
    node.run_computation()
    # Control: the script and its thread are visible from the host while it runs.
    expected = {comms["main"], comms["thread"]}
    assert _wait_for(lambda: _tasks_named(rig.comm_prefix) >= expected, JOB_TIMEOUT_SECONDS), (
        _tasks_named(rig.comm_prefix)
    )
    with pytest.raises(sr.ComputationError) as caught:
        node.get_results_as_zip(timeout=WAIT_SECONDS)
    assert caught.value.code == "script_timeout"
    assert LEAK not in str(caught.value)
    # SIGKILL reaches the namespace's pid 1 as bwrap dies: allow the kernel a moment.
    assert _wait_for(lambda: not _tasks_named(rig.comm_prefix), 2), _tasks_named(rig.comm_prefix)
    assert _descendants(rig.server.process.pid) == set()
    time.sleep(0.5)
    assert not _tasks_named(rig.comm_prefix)  # and nothing comes back


# -- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize("node", list(MEMORY_BOMBS))
def test_memory_bombs_fail_at_the_limit(rig: Rig, node: str) -> None:
    error, elapsed = rig.fail(node)
    assert error.code == "script_failed"
    assert f"script failed at line {PRELUDE_LINES + MEMORY_BOMBS[node][1]} of main.py" in str(error)
    assert elapsed < JOB_TIMEOUT_SECONDS


@pytest.mark.parametrize("node", list(MEMORY_OUTSIDE_ADDRESS_SPACE))
def test_memory_held_outside_the_address_space_is_bounded(rig: Rig, node: str) -> None:
    error, _elapsed = rig.fail(node)
    assert error.code == "script_failed"


# -- time ----------------------------------------------------------------------------------------


def test_an_infinite_loop_is_stopped_at_the_timeout(rig: Rig) -> None:
    error, elapsed = rig.fail("infinite_loop")
    assert error.code == "script_timeout"
    assert f"ran longer than {JOB_TIMEOUT_SECONDS} s" in str(error)
    assert JOB_TIMEOUT_SECONDS <= elapsed < JOB_TIMEOUT_SECONDS + TIMEOUT_SLACK_SECONDS


# -- output size ---------------------------------------------------------------------------------


def test_ten_gigabytes_of_output_are_refused_and_nothing_remains(rig: Rig) -> None:
    data_before = _usage(rig.server.data_dir)[0].bytes
    error, elapsed = rig.fail("huge_output")
    assert error.code == "output_too_large"
    assert f"larger than {JOB_OUTPUT_MIB * MIB} bytes" in str(error)
    assert elapsed < JOB_TIMEOUT_SECONDS + TIMEOUT_SLACK_SECONDS
    assert _usage(rig.scratch_root)[0].bytes == 0
    assert _usage(rig.server.data_dir)[0].bytes - data_before < 4 * MIB


@pytest.mark.xfail(
    strict=True,
    reason="KNOWN LIMIT: during the run /output (in the RAM-backed scratch) is bounded per file "
    "(RLIMIT_FSIZE = the output limit) and by a check every 0.1 s that kills the script, not by "
    "the kernel: a fast writer gets one interval's worth past the limit. A size-capped file "
    "system per job would make it exact.",
)
def test_output_beyond_the_limit_never_lands_on_the_host(rig: Rig) -> None:
    with _peak_usage(rig.scratch_root) as peak:
        error, _elapsed = rig.fail("spread_output")
    assert error.code == "output_too_large"
    assert peak[0] <= (JOB_OUTPUT_MIB + 1) * MIB, f"peak {peak[0] >> 20} MiB in the scratch"


def test_a_million_tiny_files_are_refused_in_bounded_time(rig: Rig) -> None:
    error, elapsed = rig.fail("many_files")
    assert error.code == "too_many_output_files"
    assert f"more than {MAX_OUTPUT_FILES} files" in str(error)
    assert elapsed < JOB_TIMEOUT_SECONDS + TIMEOUT_SLACK_SECONDS


def test_an_output_tree_deeper_than_the_recursion_limit_is_refused_and_removed(
    rig: Rig,
) -> None:
    try:
        error, _elapsed = rig.fail("deep_tree")
        # What remains of the job, and which of its files hold the room's plaintext input.
        leftovers = [_usage(p, needle=INPUT_DATA) for p in _job_dirs(rig)]
        # Any safe refusal will do (the walk of /output cannot see such a tree whole), but
        # not an internal error, and nothing may stay behind.
        assert (error.code, leftovers) == ("unsafe_output", []), (error.code, leftovers)
    finally:
        # Whatever happened, leave the scratch clean for the next attempt (rm copes with depth).
        for job_dir in _job_dirs(rig):
            subprocess.run([_RM, "-rf", "--", str(job_dir)], check=True)
