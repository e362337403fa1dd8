#!/usr/bin/env python3
"""Keeps the usage blocks of README.md and README.pt-BR.md equal to creek's own help.

A usage block is a ```text fence right after a marker line such as
`<!-- usage: creek up -->`; its content is the output of `creek up -h`.

    scripts/readme-usage.py --check    # exit 1 and show the difference when stale
    scripts/readme-usage.py --write    # rewrite the blocks from the help

The binary is $CREEK_BIN, else `creek` on PATH. The test suite runs --check
(tests/python/test_readme.py), so the README's usage cannot drift from --help.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", ROOT / "README.pt-BR.md"]
BLOCK = re.compile(r"(<!-- usage: (creek[^>]*?) -->\n```text\n)(.*?)(```)", re.S)


def creek_bin() -> str:
    path = os.environ.get("CREEK_BIN") or shutil.which("creek")
    if not path:
        sys.exit("readme-usage: no creek binary: set CREEK_BIN or put creek on PATH")
    return path


def help_text(command: str) -> str:
    argv = [creek_bin(), *command.split()[1:], "-h"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}).stdout
    return out.rstrip("\n") + "\n"


def refreshed(text: str) -> tuple[str, list[str]]:
    """The README text with every usage block rewritten, and the commands found."""
    commands: list[str] = []

    def replace(m: re.Match) -> str:
        commands.append(m.group(2))
        return m.group(1) + help_text(m.group(2)) + m.group(4)

    return BLOCK.sub(replace, text), commands


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    if mode not in ("--check", "--write"):
        sys.exit(__doc__)
    stale = False
    for readme in READMES:
        text = readme.read_text()
        new, commands = refreshed(text)
        if not commands:
            print(f"{readme.name}: no usage blocks found", file=sys.stderr)
            stale = True
        if new == text:
            continue
        if mode == "--write":
            readme.write_text(new)
            print(f"{readme.name}: usage blocks rewritten ({', '.join(commands)})")
        else:
            stale = True
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(True), new.splitlines(True),
                f"{readme.name} (README)", f"{readme.name} (creek -h)"))
    if stale and mode == "--check":
        print("\nThe README's usage differs from creek's help: "
              "run scripts/readme-usage.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
