"""PTY source: Codex's own `/status` card, read from the interactive CLI in a pseudo-terminal.

The fallback for a Codex whose app-server cannot report limits. pexpect runs `codex` in an empty
temporary folder, pyte renders what it draws (so the parser reads the screen a user would see, not
raw escape codes), and the probe answers cursor-position queries, dismisses the update modal and
one-time announcements, types `/status` and reads the card. It never signs in: a sign-in screen
is reported as `auth`. The whole probe has a hard 25 s limit and the process group is always
killed, including the background app-server 0.169.0 would otherwise start and leave running.
"""

from __future__ import annotations

import os
import re
import select
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pyte

from codexbar.codex_auth import read_auth, remember_secrets
from codexbar.codex_cli import (
    IS_WINDOWS,
    LaunchGate,
    ScratchHome,
    binary_diagnostics,
    child_env,
    find_codex,
    missing_codex,
    start_failure,
    stop_group,
)
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import UsageSnapshot
from codexbar.sources import SourceContext, UsageSource
from providers._status_screen import NOT_YET_MESSAGE, has_status_card, parse_status_screen

if TYPE_CHECKING:
    from codexbar.engine import Attempt

TUI_ARGS = (
    "-s",
    "read-only",
    "-a",
    "never",
    # 0.169.0's TUI otherwise starts a background app-server daemon that outlives it by hours.
    "-c",
    "features.daemon_auto_start=false",
    "-c",
    'history.persistence="none"',
)
HARD_LIMIT_SECONDS = 25.0
# A /status screen is a few KB of output; a TUI drawing more than this is not showing one.
MAX_OUTPUT_BYTES = 4 << 20
# Typing into a TUI that stopped reading its input (the pty's buffer is full) waits this long.
SEND_TIMEOUT_SECONDS = 1.0
SIZES = ((60, 200), (70, 220))  # rows, columns; the larger one is tried once on a parse failure
SETTLE_SECONDS = 0.6  # the card is complete when the screen has not changed for this long
RESEND_AFTER_SECONDS = 5.0  # no card yet: press Enter once more
NOT_YET_WAIT_SECONDS = 2.0  # how long a "data not available yet" card may take to fill in
POPUP_WAIT_SECONDS = 3.0  # Enter after this long even when no slash-command popup appeared
BLIND_SEND_AFTER_SECONDS = 8.0  # a Codex whose prompt we do not recognise still gets /status
# The rpc failures a screen scrape can get around (an old or broken app-server); after auth or
# network failures the TUI would hit the same wall.
_HELPED_BY_PTY = {ErrorKind.UNSUPPORTED.value, ErrorKind.PARSE.value, ErrorKind.TIMEOUT.value}

_CURSOR_QUERY = b"\x1b[6n"
_SKIP_CHOICE = re.compile(r"(\d)\.\s+Skip\s*$", re.M)
_SIGN_IN = ("Sign in with ChatGPT", "Finish signing in", "Sign in with Device Code")
_PROMPT = ("for shortcuts", "Ask Codex", "context left")
_STARTING = "Waiting for startup"
_POPUP = re.compile(r"/status\s{2,}show\b")
_BACKTRACE = re.compile(r"^(\d+: |Stack backtrace:|at )")
_NETWORK_WORDS = re.compile(
    r"error sending request|connection refused|dns error|failed to lookup|connection reset", re.I
)


@dataclass
class _Probe:
    """One run of the TUI: its pseudo-terminal, the emulated screen and what was typed."""

    rows: int
    cols: int
    started: float = field(default_factory=time.monotonic)
    typed_at: float | None = None
    status_sent_at: float | None = None
    status_sends: int = 0
    modal_answers: int = 0
    card_seen_at: float | None = None
    reasked: bool = False
    last_change: float = field(default_factory=time.monotonic)
    last_text: str = ""

    def __post_init__(self) -> None:
        self.screen = pyte.HistoryScreen(self.cols, self.rows, history=400)
        self.stream = pyte.ByteStream(self.screen)

    def lines(self) -> list[str]:
        def render(line: dict) -> str:
            return "".join(line[x].data for x in range(self.cols)).rstrip()

        return [render(line) for line in self.screen.history.top] + [
            line.rstrip() for line in self.screen.display
        ]


class PtySource(UsageSource):
    name = "pty"
    title = "Codex CLI /status"
    order = 30
    uses_network = True

    def __init__(self) -> None:
        self.gate = LaunchGate()

    def skip_reason(self, attempts: Sequence[Attempt]) -> str | None:
        reason = super().skip_reason(attempts)
        if reason is not None:
            return reason
        rpc = next((a for a in reversed(attempts) if a.source == "rpc"), None)
        if rpc is None or rpc.ok or rpc.kind in _HELPED_BY_PTY:
            return None
        return f"skipped: rpc failed ({rpc.kind}), and the /status screen would fail the same way"

    def unavailable(self, ctx: SourceContext) -> SourceError | None:
        if IS_WINDOWS:
            return SourceError(
                ErrorKind.UNSUPPORTED,
                "The /status probe needs a Unix pseudo-terminal; it is not available on Windows.",
                "Use the rpc or oauth source.",
            )
        return missing_codex(ctx)

    def diagnostics(self, ctx: SourceContext) -> list[str]:
        return binary_diagnostics(ctx)

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        error = self.unavailable(ctx)
        if error is not None:
            raise error
        if not ScratchHome.usable(ctx.home, ctx.env):
            raise SourceError(
                ErrorKind.UNSUPPORTED,
                "Codex keeps this login in the system keyring, which only its own home opens, "
                "and its TUI rewrites that home's config.toml on every start: the /status "
                "probe does not run it there.",
                "Use the rpc source (Auto does).",
            )
        binary = find_codex(ctx.settings.get("codex_path"), ctx.env)
        self.gate.check(ctx.interactive)
        remember_secrets(ctx.home, ctx.env)  # the screen can show what Codex printed
        deadline = time.monotonic() + ctx.remaining(HARD_LIMIT_SECONDS)
        for attempt, (rows, cols) in enumerate(SIZES):
            try:
                return self._probe(binary, ctx, rows, cols, deadline)
            except SourceError as failure:
                # A card cut off by a small terminal is worth a second look; a complete card
                # that says Codex has no figures is not.
                cut_off = failure.kind == ErrorKind.PARSE and failure.message != NOT_YET_MESSAGE
                retry = cut_off and attempt + 1 < len(SIZES)
                if not retry or time.monotonic() >= deadline - 2:
                    raise
        raise AssertionError("unreachable")

    # -- one probe ---------------------------------------------------------------------------

    def _probe(
        self, binary: Path, ctx: SourceContext, rows: int, cols: int, deadline: float
    ) -> UsageSnapshot:
        import pexpect  # POSIX only; imported here so the module loads everywhere

        with (
            tempfile.TemporaryDirectory(prefix="codexbar-status-") as folder,
            ScratchHome(ctx.home, ctx.env) as scratch,
        ):
            env = child_env(ctx.env, scratch.path, binary)
            env.update(TERM="xterm-256color", COLORTERM="truecolor")
            env.setdefault("LANG", "C.UTF-8")
            try:
                child = pexpect.spawn(
                    str(binary),
                    list(TUI_ARGS),
                    cwd=folder,
                    env=env,
                    dimensions=(rows, cols),
                    echo=False,
                )
            except (OSError, pexpect.ExceptionPexpect) as error:
                failure = start_failure(binary, error)
                self.gate.failed(failure)
                raise failure from None
            try:
                lines = self._drive(_Typist(child, deadline), _Probe(rows, cols), deadline)
            finally:
                stop_group(child.pid, lambda: not child.isalive())
                child.close(force=True)
        snapshot = parse_status_screen(lines, source=self.name, now=ctx.now())
        return _with_login_identity(snapshot, ctx)

    def _drive(self, child, probe: _Probe, deadline: float) -> list[str]:
        """Interact until the card has settled; returns the screen's lines."""
        import pexpect

        seconds = max(0.0, deadline - time.monotonic())
        received = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise SourceError(
                    ErrorKind.TIMEOUT,
                    f"Codex's /status did not show the limits within {seconds:.0f} s.",
                    "Try `--source rpc`, or run `codex` and type /status yourself.",
                )
            try:
                data = child.read_nonblocking(65536, timeout=min(0.1, deadline - now))
            except pexpect.TIMEOUT:
                data = b""
            except pexpect.EOF:
                self._exited(probe)
            received += len(data)
            if received > MAX_OUTPUT_BYTES:
                raise SourceError(
                    ErrorKind.UNSUPPORTED,
                    f"The Codex CLI drew more than {MAX_OUTPUT_BYTES >> 20} MB without showing "
                    "/status; the probe stopped it.",
                    "Run `codex` in a terminal to see what it shows, or use `--source rpc`.",
                )
            if data:
                if _CURSOR_QUERY in data:
                    # Crossterm asks where the cursor is and waits for the answer; one answer
                    # per read is plenty, and a TUI flooding queries gets no more.
                    cursor = probe.screen.cursor
                    child.send(f"\x1b[{cursor.y + 1};{cursor.x + 1}R")
                probe.stream.feed(data)
            lines = probe.lines()
            text = "\n".join(lines)
            if text != probe.last_text:
                probe.last_text, probe.last_change = text, now
            if self._react(child, probe, lines, text, now):
                return lines

    def _react(self, child, probe: _Probe, lines: list[str], text: str, now: float) -> bool:
        """Answer what the screen shows; True once the /status card is complete."""
        if any(marker in text for marker in _SIGN_IN):
            raise SourceError(
                ErrorKind.AUTH,
                "Codex is not logged in (the Codex CLI shows its sign-in screen).",
                "Run `codex login`.",
            )
        if "Trust this folder" in text or "trust the contents of this" in text.lower():
            raise SourceError(
                ErrorKind.UNSUPPORTED,
                "The Codex CLI asked whether to trust its working folder, although codexbar "
                "ran it in an empty temporary folder; the probe stopped without answering.",
                "Check Codex's `projects` trust settings, or use `--source rpc`.",
            )
        if probe.status_sent_at is not None:
            after = lines[self._echo_index(lines) :]
            if has_status_card(after):
                probe.card_seen_at = probe.card_seen_at or now
                if now - probe.last_change < SETTLE_SECONDS:
                    return False
                # Right after start-up the card can say "data not available yet" and then be
                # redrawn once Codex's own request for the limits returns.
                waiting = "data not available yet" in "\n".join(after)
                if not waiting or now - probe.card_seen_at < NOT_YET_WAIT_SECONDS:
                    return not waiting
                if probe.reasked:
                    return True
                # A card drawn before Codex finished starting up stays empty: ask once more.
                probe.reasked = True
                probe.typed_at = probe.status_sent_at = probe.card_seen_at = None
                return False
            if now - probe.status_sent_at >= RESEND_AFTER_SECONDS and probe.status_sends < 2:
                child.send("\r")  # an Enter swallowed by a redraw; the text is still typed
                probe.status_sent_at, probe.status_sends = now, probe.status_sends + 1
            return False
        if probe.typed_at is not None:
            # Codex queues a command typed while it starts up; Enter is pressed once it is
            # ready, best when the slash-command popup offers /status.
            if _STARTING in text:
                return False
            if _POPUP.search(text) or now - probe.typed_at >= POPUP_WAIT_SECONDS:
                child.send("\r")
                probe.status_sent_at, probe.status_sends = now, 1
            return False
        if now - probe.last_change < 0.15:
            return False  # still drawing
        if "Update available!" in text and probe.modal_answers < 3:
            skip = _SKIP_CHOICE.search(text)
            child.send(skip.group(1) if skip else "\x1b")
            time.sleep(0.1)
            child.send("\r")
            probe.modal_answers += 1
            probe.last_change = now
            return False
        if "Press enter to continue" in text and probe.modal_answers < 3:
            # A one-time announcement: Enter accepts a plain notice, Esc leaves a choice unmade.
            child.send("\x1b" if re.search(r"^\s*›?\s*1\.", text, re.M) else "\r")
            probe.modal_answers += 1
            probe.last_change = now
            return False
        prompt = any(marker in text for marker in _PROMPT)
        blind = ">_ OpenAI Codex" in text and now - probe.started >= BLIND_SEND_AFTER_SECONDS
        if prompt or blind:
            child.send("/status")
            probe.typed_at = now
        return False

    @staticmethod
    def _echo_index(lines: list[str]) -> int:
        """Where the newest `/status` echo is, so an older card above it is ignored."""
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].strip().lstrip("›> ").strip() == "/status":
                return index
        return 0

    def _exited(self, probe: _Probe) -> None:
        lines = [line.strip() for line in probe.lines() if line.strip()]
        # Codex dies with "Error: …" followed by a backtrace of "N: <unknown>" lines.
        said = next((line for line in reversed(lines) if "Error:" in line), None)
        if said is not None:
            said = said[said.index("Error:") + len("Error:") :].strip()
        else:
            said = next((line for line in reversed(lines) if not _BACKTRACE.match(line)), "")
        said = said[:200]
        lowered = said.lower()
        if "timed out" in lowered:
            failure = SourceError(
                ErrorKind.TIMEOUT,
                f"The Codex CLI gave up waiting for chatgpt.com before showing /status ({said}).",
                "Check your connection, then refresh.",
            )
        elif _NETWORK_WORDS.search(said):
            failure = SourceError(
                ErrorKind.NETWORK,
                f"The Codex CLI could not reach chatgpt.com before showing /status ({said}).",
                "Check your connection, then refresh.",
            )
        else:
            failure = SourceError(
                ErrorKind.UNSUPPORTED,
                "The Codex CLI exited before showing /status" + (f" ({said})." if said else "."),
                "Run `codex` in a terminal to see what it needs, or use `--source rpc`.",
            )
            if probe.status_sent_at is None:
                self.gate.failed(failure)
        raise failure


class _Typist:
    """The child as `_drive` sees it: reads through pexpect, writes that never block.

    pexpect's `send` is a blocking write to the pty: a TUI that stops reading its input (one
    flooding cursor queries, say) would hang it for ever. Here a write waits at most
    SEND_TIMEOUT_SECONDS (and never past the deadline) for room, then drops the keys."""

    def __init__(self, child, deadline: float) -> None:
        self.child = child
        self.deadline = deadline
        os.set_blocking(child.child_fd, False)

    def read_nonblocking(self, size: int, timeout: float) -> bytes:
        return self.child.read_nonblocking(size, timeout=timeout)

    def send(self, text: str) -> None:
        data = memoryview(text.encode())
        stop = min(self.deadline, time.monotonic() + SEND_TIMEOUT_SECONDS)
        while data:
            try:
                data = data[os.write(self.child.child_fd, data) :]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return  # the TUI is gone; the next read reports it
            left = stop - time.monotonic()
            if left <= 0:
                return
            select.select([], [self.child.child_fd], [], min(left, 0.05))


def _with_login_identity(snapshot: UsageSnapshot, ctx: SourceContext) -> UsageSnapshot:
    """A card drawn while Codex was still starting shows `Account: Plus` without the email;
    Codex takes it from auth.json, so we read it there too (read-only)."""
    if snapshot.identity.email:
        return snapshot
    try:
        login = read_auth(ctx.home, ctx.env).identity
    except SourceError:
        return snapshot
    identity = replace(
        snapshot.identity,
        email=login.email,
        plan=snapshot.identity.plan or login.plan,
        account_id=snapshot.identity.account_id or login.account_id,
    )
    return replace(snapshot, identity=identity)
