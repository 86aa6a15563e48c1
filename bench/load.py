"""Plant a load on this machine, of a known shape, for the busy-machine trials (``bench/busy_trials.py``).

    python bench/load.py spin [--workers 2] [--seconds 60]      # pure-Python spinners
    python bench/load.py torch [--threads 2] [--seconds 60]     # a second PyTorch process with 2 threads
    python bench/load.py bursts [--on 3] [--off 5]              # spinners a few seconds on, a few off
    python bench/load.py compile [--workers 2]                  # a parallel C++ compile, over and over

Runs until ``--seconds`` have passed or it is stopped (SIGTERM/SIGINT stop its workers too).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: A translation unit that takes g++ about a second at -O2: templates instantiated over many types.
CXX_SOURCE = """
#include <map>
#include <string>
#include <vector>
#include <algorithm>
template <int N> struct Work { static long run(std::vector<long>& v) {
  std::map<std::string, long> m; for (long x : v) m[std::to_string(x * N)] += x;
  std::sort(v.begin(), v.end(), [](long a, long b) { return (a * N) % 7 < (b * N) % 7; });
  return m.size() + Work<N - 1>::run(v); } };
template <> struct Work<0> { static long run(std::vector<long>&) { return 0; } };
int main() { std::vector<long> v(100, 3); return (int)(Work<120>::run(v) & 1); }
"""


def _spin(until: float) -> None:
    while time.monotonic() < until:
        pass


def _bursts(until: float, on: float, off: float) -> None:
    while time.monotonic() < until:
        _spin(min(until, time.monotonic() + on))
        time.sleep(off)


def _torch(until: float, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    x = torch.randn(384, 384)
    while time.monotonic() < until:
        torch.nn.functional.gelu(x @ x).sum()


def _compile(until: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hellotorch-load-"))
    source = folder / "work.cpp"
    source.write_text(CXX_SOURCE)
    while time.monotonic() < until:
        subprocess.run(["g++", "-O2", "-o", str(folder / "work"), str(source)], check=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("shape", choices=["spin", "torch", "bursts", "compile"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--on", type=float, default=3.0, help="bursts: seconds on")
    parser.add_argument("--off", type=float, default=5.0, help="bursts: seconds off")
    args = parser.parse_args(argv)
    until = time.monotonic() + args.seconds
    work = {
        "spin": (_spin, (until,), args.workers),
        "bursts": (_bursts, (until, args.on, args.off), args.workers),
        "torch": (_torch, (until, args.threads), 1),
        "compile": (_compile, (until,), args.workers),
    }
    target, work_args, count = work[args.shape]
    workers = [multiprocessing.Process(target=target, args=work_args, daemon=True) for _ in range(count)]
    for worker in workers:
        worker.start()

    def stop(*_):
        for worker in workers:
            worker.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"load {args.shape}: {count} worker(s), pid {os.getpid()}", flush=True)
    for worker in workers:
        worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
