"""The exit status of every ``pcalm`` command, in one place (torch-free: ``pcalm --help`` shows it)."""

from __future__ import annotations

import signal

OK = 0
CLAIM_FAILS = 1  # pcalm check: a claim's verdict is "fails" or "error"; pcalm grid: cells failed on Ray
BAD_INPUT = 2  # bad arguments, missing data, an unusable --out (also argparse's own status)
DIVERGED = 3  # pcalm train: the run diverged (summary.json says where)
UNDECIDED = 4  # pcalm check: no claim fails or raised, but at least one is "undecided"
INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as shells report it

EPILOG = """\
exit status (every command):
  0    done (pcalm grid: every cell has a row, diverged cells included)
  1    pcalm check: a claim fails, or its check raised (verdict "error"; the
       report is still written); pcalm grid: cells whose task failed on Ray
       (named on stderr; a rerun runs them again)
  2    bad input: arguments, missing data, an --out that is not a writable folder
       with free space; one line on stderr names the problem, nothing is written
  3    pcalm train: the run diverged (summary.json says where)
  4    pcalm check: no claim fails, but at least one is undecided (the report
       says why: e.g. an interval that straddles its margin)
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM: the --out folder holds
       INTERRUPTED.json and partial files; pcalm grid and C4 resume, the others redo
"""
