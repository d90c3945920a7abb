"""Escape attempts against the script sandbox: each test passes only when the attempt FAILS.

Every test ends with a normal run (the ``healthy`` fixture) to show the host and the sandbox
still work afterwards. Limits are small so the whole file runs in seconds.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealroom.compute.sandbox import (
    Mount,
    SandboxError,
    SandboxLimits,
    SandboxResult,
    python_env,
    python_libraries,
    python_runtime,
    run_sandboxed,
    sandbox_available,
)


@pytest.fixture(autouse=True, scope="module")
def _sandbox_is_installed() -> None:
    # Fail, not skip: ./dev installs bubblewrap, and a missing sandbox must not pass silently.
    assert sandbox_available(), "bubblewrap and libseccomp are required (./dev installs them)"


MIB = 1024 * 1024
SMALL = SandboxLimits(
    timeout_seconds=2.0,
    memory_bytes=256 * MIB,
    cpu_seconds=10,
    max_file_bytes=20 * MIB,
    max_processes=64,
    max_output_bytes=50 * MIB,
    max_output_files=100,
)


class Room:
    """A host layout for one test: an input file, an empty output dir, a private work dir."""

    def __init__(self, base: Path) -> None:
        self.input_dir = base / "in"
        self.output_dir = base / "out"
        self.work_dir = base / "work"
        for d in (self.input_dir, self.output_dir, self.work_dir):
            d.mkdir(parents=True)
        (self.input_dir / "data.csv").write_text("a,b\n1,2\n")
        self.secret = base / "secret"
        self.secret.write_text("host-secret-marker")

    def run(self, code: str, limits: SandboxLimits = SMALL) -> SandboxResult:
        interpreter, runtime = python_runtime()
        return run_sandboxed(
            [str(interpreter), "-c", textwrap.dedent(code)],
            mounts=[Mount(self.input_dir, "/input/d")],
            output_dir=self.output_dir,
            work_dir=self.work_dir,
            limits=limits,
            runtime=runtime,
            libraries=python_libraries(),
            env=python_env(),
        )


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    yield Room(tmp_path / "room")
    # After every attempt a normal run still succeeds (fresh dirs: the old output may be refused).
    healthy = Room(tmp_path / "after")
    result = healthy.run("print(open('/input/d/data.csv').read().count(','))")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"2\n"


def test_normal_script_reads_input_and_writes_output(room: Room) -> None:
    result = room.run(
        """
        import csv, os
        rows = list(csv.reader(open('/input/d/data.csv')))
        os.makedirs('/output/sub')
        open('/output/sub/n.txt', 'w').write(str(len(rows)))
        print('done', os.getuid())
        """
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"done 65534\n"
    assert result.output_files == [("sub/n.txt", 1)]
    assert (room.output_dir / "sub" / "n.txt").read_text() == "2"


def test_tcp_to_host_listener_fails(room: Room) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    try:
        result = room.run(
            f"""
            import socket
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=1)
            except OSError as e:
                print('refused', e.errno)
            else:
                print('CONNECTED')
            """
        )
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert result.stdout.startswith(b"refused"), result


def test_internet_and_dns_fail(room: Room) -> None:
    result = room.run(
        """
        import socket
        for attempt in (lambda: socket.create_connection(('8.8.8.8', 53), timeout=1),
                        lambda: socket.getaddrinfo('example.com', 443),
                        lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM),
                        lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)):
            try:
                attempt()
            except OSError:
                print('refused')
            else:
                print('OPEN')
        """
    )
    assert result.stdout == b"refused\n" * 4, result


def test_input_is_read_only(room: Room) -> None:
    result = room.run(
        """
        import os
        for attempt in (lambda: open('/input/d/data.csv', 'a'),
                        lambda: open('/input/d/new', 'w'),
                        lambda: os.remove('/input/d/data.csv'),
                        lambda: open('/new-at-root', 'w')):
            try:
                attempt()
            except OSError:
                print('refused')
            else:
                print('WRITTEN')
        """
    )
    assert result.stdout == b"refused\n" * 4, result
    assert (room.input_dir / "data.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in room.input_dir.iterdir()) == ["data.csv"]


def test_host_files_outside_mounts_are_invisible(room: Room) -> None:
    result = room.run(
        f"""
        import os
        for path in ({str(room.secret)!r}, '/etc/shadow', '/etc/passwd', '/root/.local',
                     '/root/.ssh', '/sys/kernel'):
            print(os.path.exists(path))
        print(sorted(os.listdir('/root')))
        """
    )
    assert result.stdout == b"False\n" * 6 + b"['.pyenv']\n", result
    assert b"host-secret-marker" not in result.stdout


def test_proc_shows_no_host_process_or_environment(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALROOM_HOST_MARKER", "host-env-marker")
    result = room.run(
        """
        import os
        pids = [p for p in os.listdir('/proc') if p.isdigit()]
        # The script is pid 1 and alone: no unfiltered bwrap reaper (its /proc/1/mem is writable).
        print(pids == ['1'] and os.getpid() == 1)
        env = b''
        for p in pids:
            try:
                env += open(f'/proc/{p}/environ', 'rb').read()
            except OSError:
                pass
        print(b'host-env-marker' in env, b'SEALROOM' in env, sorted(os.environ))
        """
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        b"True\nFalse False ['ARROW_DEFAULT_MEMORY_POOL', 'HOME', 'JOBLIB_MULTIPROCESSING', "
        b"'LANG', 'MALLOC_ARENA_MAX', 'OMP_NUM_THREADS', 'OMP_WAIT_POLICY', "
        b"'OPENBLAS_NUM_THREADS', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONNOUSERSITE', "
        b"'PYTHONPATH']\n"
    ), result


def test_symlink_in_output_is_refused(room: Room) -> None:
    with pytest.raises(SandboxError) as caught:
        room.run("import os; os.symlink('/etc/passwd', '/output/link')")
    assert caught.value.code == "unsafe_output"


def test_hard_link_in_output_is_refused(room: Room) -> None:
    with pytest.raises(SandboxError) as caught:
        room.run("import os; open('/output/a', 'w').write('x'); os.link('/output/a', '/output/b')")
    assert caught.value.code == "unsafe_output"


def test_dotdot_names_cannot_leave_output(room: Room) -> None:
    result = room.run(
        """
        for path in ('/output/../escaped', '/output/../input/d/x', '/output/..'):
            try:
                open(path, 'w')
            except OSError:
                print('refused')
            else:
                print('WRITTEN')
        """
    )
    assert result.stdout == b"refused\n" * 3, result
    assert not (room.output_dir.parent / "escaped").exists()


def test_fork_bomb_is_refused(room: Room) -> None:
    started = time.monotonic()
    result = room.run(
        """
        import os, subprocess
        for attempt in (os.fork, lambda: subprocess.run(['/bin/true'])):
            try:
                pid = attempt()
            except OSError as e:
                print('refused', e.errno)
            else:
                if pid == 0:
                    os._exit(0)
                print('FORKED')
        """
    )
    assert result.stdout.count(b"refused") == 2, result
    assert time.monotonic() - started < 2.0


def test_threads_still_work(room: Room) -> None:
    result = room.run(
        """
        import threading
        out = []
        ts = [threading.Thread(target=out.append, args=(i,)) for i in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(sorted(out) == list(range(8)))
        """
    )
    assert result.stdout == b"True\n", result


def test_memory_bomb_is_stopped(room: Room) -> None:
    result = room.run("blob = bytearray(1024 * 1024 * 1024); print('ALLOCATED')")
    assert result.exit_code not in (0, None)
    assert b"MemoryError" in result.stderr
    assert b"ALLOCATED" not in result.stdout


def test_infinite_loop_times_out(room: Room) -> None:
    result = room.run("while True: pass")
    assert result.timed_out
    assert result.exit_code is None
    assert 1.9 < result.duration_seconds < 4.0


def test_huge_output_is_stopped_by_file_size_limit(room: Room) -> None:
    result = room.run(
        """
        chunk = b'x' * (1024 * 1024)
        with open('/output/big', 'wb') as f:
            for _ in range(10 * 1024):  # 10 GiB
                f.write(chunk)
        """
    )
    assert result.exit_code != 0
    assert (room.output_dir / "big").stat().st_size <= SMALL.max_file_bytes


def test_output_over_total_limit_is_refused(room: Room) -> None:
    limits = SandboxLimits(**{**SMALL.__dict__, "max_output_bytes": 30 * MIB})
    with pytest.raises(SandboxError) as caught:
        room.run(
            "for i in range(2): open(f'/output/{i}', 'wb').write(b'x' * (20 * 1024 * 1024))",
            limits,
        )
    assert caught.value.code == "output_too_large"


def test_million_tiny_files_are_refused(room: Room) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        room.run("for i in range(1_000_000): open(f'/output/{i}', 'w').close()")
    assert caught.value.code == "too_many_output_files"
    assert time.monotonic() - started < 10.0


def test_timeout_kills_every_thread_and_nothing_survives(room: Room) -> None:
    token = "survivor-token-7f3a"
    result = room.run(
        f"""
        import subprocess, threading, time
        try:
            subprocess.Popen(['/bin/sleep', '30', '{token}'])
            print('SPAWNED', flush=True)
        except OSError:
            print('no child', flush=True)
        def later():
            time.sleep(2.5)
            open('/output/marker', 'w').write('alive')
        threading.Thread(target=later).start()
        time.sleep(30)
        """,
        SandboxLimits(**{**SMALL.__dict__, "timeout_seconds": 1.0}),
    )
    assert result.timed_out
    assert result.stdout == b"no child\n"
    time.sleep(2.0)
    assert not (room.output_dir / "marker").exists()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert token.encode() not in cmdline or pid == str(os.getpid())


def test_admin_syscalls_fail(room: Room) -> None:
    result = room.run(
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        checks = {
            'ptrace': lambda: libc.ptrace(0, 0, 0, 0),             # PTRACE_TRACEME
            'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),
            'remount': lambda: libc.mount(b'none', b'/input', None, 32 | 4096, None),
            'unshare': lambda: libc.unshare(0x10000000),          # CLONE_NEWUSER
            'setns': lambda: libc.setns(0, 0),
            'chroot': lambda: libc.chroot(b'/tmp'),
            'bpf': lambda: libc.syscall(321, 0, 0, 0),
            'keyctl': lambda: libc.syscall(250, 0, 0, 0),
            'io_uring': lambda: libc.syscall(425, 8, 0),
        }
        for name, call in checks.items():
            print(name, call(), ctypes.get_errno() != 0)
        """
    )
    assert result.exit_code == 0, result.stderr
    for line in result.stdout.decode().splitlines():
        _name, ret, failed = line.split()
        assert ret == "-1", line
        assert failed == "True", line
    assert len(result.stdout.splitlines()) == 9


def test_no_capabilities_and_unprivileged_ids(room: Room) -> None:
    result = room.run(
        """
        import os
        caps = [l for l in open('/proc/self/status') if l.startswith('Cap')]
        print(os.getuid(), os.getgid(), all(l.split()[1] == '0' * 16 for l in caps))
        """
    )
    assert result.stdout == b"65534 65534 True\n", result


def test_streams_are_capped(room: Room) -> None:
    result = room.run("import sys; sys.stdout.write('x' * (3 * 1024 * 1024))")
    assert result.exit_code == 0
    assert len(result.stdout) == 1024 * 1024


def test_threads_unaffected_by_host_thread(room: Room) -> None:
    # A host-side thread running concurrently must not leak into the sandbox (sanity of Popen).
    done = threading.Event()
    t = threading.Thread(target=done.wait, args=(5,))
    t.start()
    try:
        result = room.run("print('ok')")
    finally:
        done.set()
        t.join()
    assert result.stdout == b"ok\n"


def test_libraries_under_tmp_are_bound_at_fixed_paths(tmp_path: Path) -> None:
    # A checkout (and its virtualenv) may live under /tmp, which the sandbox has privately.
    library = tmp_path / "lib"
    library.mkdir()
    (library / "probe_module.py").write_text("VALUE = 42\n")
    output, work = tmp_path / "out", tmp_path / "work"
    output.mkdir()
    work.mkdir()
    interpreter, runtime = python_runtime()
    result = run_sandboxed(
        [str(interpreter), "-c", "import probe_module; print(probe_module.VALUE)"],
        mounts=[],
        output_dir=output,
        work_dir=work,
        limits=SMALL,
        runtime=runtime,
        libraries=[*python_libraries(), (library, "/opt/sealroom/probe")],
        env={**python_env(), "PYTHONPATH": "/opt/sealroom/probe"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"42\n"
    with pytest.raises(SandboxError, match="library"):
        run_sandboxed(
            [str(interpreter), "-c", "pass"],
            mounts=[],
            output_dir=output,
            work_dir=work,
            limits=SMALL,
            libraries=[(library, "/tmp/shadow")],  # must land under /opt/sealroom
        )
