"""Start-up cost of tagging one product from the command line: wall time and peak memory
of ``rtag tag --index INDEX --text TEXT``, median of several runs, each a fresh process.

Other commands can be timed in the same interleaved rounds, so machine noise hits all of
them alike: ``--checkout DIR`` adds the same rtag command run from another checkout of
this repository (its package first on PYTHONPATH: "before" against "after"), and
``--annif DIR PROJECT`` adds Annif's one-document ``annif suggest PROJECT`` run in DIR
(a folder with projects.cfg and a trained project; ``--annif-bin`` names the annif
executable).

    .venv/bin/python benchmarks/startup.py --index demo --repeats 5 [--checkout ../old] [--annif DIR PROJECT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_probe(command: list[str], env: dict, cwd: Path, stdin: str | None) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB, stdout) of one run of ``command``, measured by a
    probe process that runs it as its only child (RUSAGE_CHILDREN is then that child's)."""
    done = subprocess.run([sys.executable, "-c", PROBE, *command], env=env, cwd=cwd, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    seconds, peak_mb, stdout = done.stdout.split("\n", 2)
    return float(seconds), float(peak_mb), stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default="demo", help="index name or folder (a folder given as an absolute path, or a name under $RTAG_INDEX_DIR given as an absolute path: commands run from their checkout)")
    ap.add_argument("--text", default="Puma Men Black Running Shoes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--checkout", type=Path, action="append", default=[], help="another checkout to time the same command from")
    ap.add_argument("--annif", nargs=2, metavar=("DIR", "PROJECT"), help="also time `annif suggest PROJECT` in DIR")
    ap.add_argument("--annif-bin", default="annif")
    args = ap.parse_args()

    repo = HERE.parent
    rtag = [sys.executable, "-m", "retrieval_tagger.cli.main", "tag", "--index", args.index, "--text", args.text]
    # run from the checkout itself: `python -m` puts the working folder first on sys.path
    commands = {"rtag (this checkout)": (rtag, {**os.environ, "PYTHONPATH": str(repo)}, repo, None)}
    for other in args.checkout:
        commands[f"rtag ({other})"] = (rtag, {**os.environ, "PYTHONPATH": str(other.resolve())}, other.resolve(), None)
    if args.annif:
        folder, project = args.annif
        commands["annif suggest"] = ([args.annif_bin, "suggest", project], dict(os.environ), Path(folder), args.text + "\n")
    walls = {name: [] for name in commands}
    peaks = {name: [] for name in commands}
    outputs = {}
    for _ in range(args.repeats):
        for name, (command, env, cwd, stdin) in commands.items():
            seconds, peak_mb, outputs[name] = run_probe(command, env, cwd, stdin)
            walls[name].append(seconds)
            peaks[name].append(peak_mb)
    print(f"{'command':<40} {'wall s (median)':>16} {'min':>7} {'max':>7} {'peak MB (median)':>17}")
    for name in commands:
        print(f"{name:<40} {statistics.median(walls[name]):>16.2f} {min(walls[name]):>7.2f} {max(walls[name]):>7.2f} {statistics.median(peaks[name]):>17.0f}")
    for name, out in outputs.items():
        print(f"\n{name}:\n{out[:600]}")


# Runs the command given on its argv as a child, then prints its wall time and its own
# peak resident memory (this probe process holds nothing else) and its output.
PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdin=sys.stdin, capture_output=True, text=True)
wall = time.perf_counter() - start
if done.returncode:
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
print(wall)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(done.stdout)
"""


if __name__ == "__main__":
    main()
