"""CPU time of analysing long IPython lines and large cells (issue 8's slow-analysis figures).

    PYTHONPATH=python_pkg python bench/bench_long_lines.py
"""

from __future__ import annotations

import time

from cellpipe.core.analysis import analyze

CELLS = {
    "20,000-char ! line": "!echo " + "a" * 20_000,
    "20,000-char ! line ending in ' ?'": "!echo " + "a" * 20_000 + " ?",
    "20,000-char ! line of $names and quotes": "!echo " + "$x 'y' " * 3_000,
    "100 kB cell: 400 ! lines, then code": "!echo {x} $y\n" * 400 + "x = 1\n" * 16_000,
    "100 kB cell: code, then one ! line": "x = 1\n" * 16_000 + "!echo {x} $y\n",
}


def main() -> None:
    analyze("!ls")  # IPython imported
    for name, source in CELLS.items():
        start = time.process_time()
        analyze(source)
        print(f"{name:42} {time.process_time() - start:8.3f} s CPU", flush=True)


if __name__ == "__main__":
    main()
