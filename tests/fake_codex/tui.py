"""A fake interactive `codex` for the pty source, run in a real pseudo-terminal.

It asks where the cursor is (and insists on an answer, as crossterm does), draws a banner and a
prompt in colour, and answers `/status` + Enter with the card in FAKE_CODEX_SCREEN.
FAKE_CODEX_MODE picks one flag:
  update     the "Update available!" modal first; `1` (update now) is recorded as a failure
  announce   a one-time announcement with "Press enter to continue" first
  signin     the sign-in screen; an Enter there (which would start a login) is recorded
  trust      the "Trust this folder?" prompt
  narrow     below 220 columns the card is cut off (no percentages)
  notyet     the first card says "Limits: data not available yet" (FAKE_CODEX_NOT_YET_SCREEN)
  silent     draw the prompt, never answer
  cursor_flood  ask for the cursor position without end, never reading an answer
FAKE_CODEX_MARKER: a file that gets a line for every forbidden action (login, update).
FAKE_CODEX_LOG: a file that gets one line per launch (pid, columns x rows, argv).
"""

from __future__ import annotations

import os
import re
import select
import sys
import termios
import tty
from pathlib import Path

from _seen import record_home

MODE = os.environ.get("FAKE_CODEX_MODE", "")
RESET, DIM, BOLD, CYAN = "\x1b[0m", "\x1b[2m", "\x1b[1m", "\x1b[36m"


def write(text: str) -> None:
    os.write(1, text.replace("\n", "\r\n").encode())


def mark(what: str) -> None:
    if marker := os.environ.get("FAKE_CODEX_MARKER"):
        with open(marker, "a") as handle:
            handle.write(what + "\n")


def read_key(timeout: float = 30.0) -> str:
    ready, _, _ = select.select([0], [], [], timeout)
    if not ready:
        sys.exit(0)
    data = os.read(0, 1024)
    if not data:
        sys.exit(0)
    return data.decode(errors="replace")


def ask_cursor_position() -> None:
    write("\x1b[6n")
    answer = ""
    while not re.search(r"\x1b\[\d+;\d+R", answer):
        answer += read_key(5.0)


def colour(card: str) -> str:
    """Bold labels, cyan bars, dim hints: the escape codes a real card carries."""
    card = re.sub(r"^(\s*[│]?\s*)([A-Za-z0-9 .\-]+:)", rf"\1{BOLD}\2{RESET}", card, flags=re.M)
    card = re.sub(r"(\[[█░]+\])", rf"{CYAN}\1{RESET}", card)
    return card.replace("(resets", f"{DIM}(resets").replace(")\n", f"){RESET}\n")


def wait_for_enter() -> str:
    typed = ""
    while not typed.endswith("\r"):
        typed += read_key()
    return typed


def prompt() -> None:
    write(f"\n{BOLD}›{RESET} Ask Codex to do anything\n  {DIM}? for shortcuts{RESET}\n")


def main() -> None:
    record_home()
    columns, rows = os.get_terminal_size(0)
    if log := os.environ.get("FAKE_CODEX_LOG"):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {columns}x{rows} {' '.join(sys.argv[1:])}\n")
    tty.setraw(0)
    if MODE == "cursor_flood":
        while True:
            os.write(1, b"\x1b[6n" * 512)
    ask_cursor_position()
    write("\x1b[2J\x1b[H" + f"{BOLD}>_ OpenAI Codex{RESET} (v0.169.0)\n   {DIM}/tmp{RESET}\n")
    if MODE == "signin":
        write("\n  Welcome to Codex\n\n› 1. Sign in with ChatGPT\n  2. Sign in with Device Code\n")
        write("\n  Press enter to continue\n")
        while True:
            if "\r" in read_key():
                mark("login started")
    if MODE == "trust":
        write("\n  Trust this folder?\n\n› 1. Yes, continue\n  2. No, quit\n")
        while True:
            read_key()
    if MODE == "update":
        modal = Path(os.environ["FAKE_CODEX_UPDATE_SCREEN"]).read_text()
        write(modal.replace("Update available!", f"{BOLD}Update available!{RESET}"))
        choice = wait_for_enter()
        if "1" in choice or "2" not in choice:
            mark(f"update modal answered {choice!r}")
            sys.exit(1)
        write("\x1b[2J\x1b[H")
    if MODE == "announce":
        write(f"\n  {BOLD}Our latest model is more intelligent{RESET}\n")
        write("\n  Press enter to continue\n")
        wait_for_enter()
        write("\x1b[2J\x1b[H")
    prompt()
    typed = ""
    asked_before = False
    while True:
        key = read_key()
        if MODE == "silent":
            continue
        typed += key
        if "\r" not in typed:
            if typed == "/status":  # the slash-command popup, as the real TUI draws it
                write(f"\n  {CYAN}/status{RESET}      show current session configuration\n")
            continue
        command, typed = typed.split("\r")[0].strip(), ""
        if command != "/status":
            write(f"\nUnrecognized command '{command}'\n")
            prompt()
            continue
        card = Path(os.environ["FAKE_CODEX_SCREEN"]).read_text()
        if MODE == "notyet" and not asked_before:
            # Drawn before the limits arrived: only the first card of this fixture.
            unavailable = Path(os.environ["FAKE_CODEX_NOT_YET_SCREEN"]).read_text()
            card = "/status\n" + unavailable.split("/status\n")[1]
        asked_before = True
        if MODE == "narrow" and columns < 220:
            card = "\n".join(line[:30] for line in card.splitlines())
        write("\n" + colour(card) + "\n")
        prompt()


if __name__ == "__main__":
    saved = termios.tcgetattr(0) if os.isatty(0) else None
    try:
        main()
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
