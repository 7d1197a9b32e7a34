"""lock=True: 4 processes x 8 threads missing one cold key together run the function once.

On every engine several processes share (real servers from the harness): the lock
is an entry added atomically on the engine itself, so it holds across processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_PROCESSES = 4
_THREADS = 8


def _script(path: Path, url: str, namespace: str, counter: Path) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            import sys, threading, time
            from twat_cache import ucache

            @ucache({url!r}, namespace={namespace!r}, lock=True, lock_timeout=60)
            def slow(x):
                with open({str(counter)!r}, "a") as out:
                    out.write("computed\\n")
                time.sleep(0.5)  # every other caller arrives while this one runs
                return x * 3

            print("ready", flush=True)
            sys.stdin.readline()  # all processes start together
            results = []
            threads = [
                threading.Thread(target=lambda: results.append(slow(14)))
                for _ in range({_THREADS})
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(*results, flush=True)
            """
        )
    )
    return path


def test_cold_key_computed_once_by_the_fleet(
    shared_url: str, namespace: str, tmp_path: Path
) -> None:
    counter = tmp_path / "computed.txt"
    script = _script(tmp_path / "stampede.py", shared_url, namespace, counter)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(_PROCESSES)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [p.returncode for p in processes] == [0] * _PROCESSES
    assert [out.split() for out in outputs] == [["42"] * _THREADS] * _PROCESSES
    assert counter.read_text().splitlines() == ["computed"]
