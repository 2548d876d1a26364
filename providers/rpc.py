"""RPC source: the limits as the Codex CLI itself reads them, through `codex app-server`.

One-shot (the CLI): start the server, handshake, ask `account/read` and
`account/rateLimits/read` together, stop the server. Kept alive (the tray): one server stays up
between refreshes (restarted if it died, stopped after `rpc.idle_minutes` idle), and its
`account/rateLimits/updated` notifications are merged into the last reading and pushed to the
tray at once.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from codexbar.codex_auth import remember_secrets
from codexbar.codex_cli import (
    LaunchGate,
    ScratchHome,
    binary_diagnostics,
    child_env,
    find_codex,
    missing_codex,
)
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import MAIN_LIMIT_ID, Identity, UsageSnapshot
from codexbar.parsing import as_str
from codexbar.rate_limits import account_limits, parse_credits, parse_rate_limit_snapshot
from codexbar.redact import redact
from codexbar.sources import SourceContext, UsageSource
from codexbar.wham import parse_wham_usage
from providers import _appserver
from providers._appserver import AppServer, RpcError

log = logging.getLogger(__name__)

APP_SERVER_ARGS = ("-s", "read-only", "-a", "never", "app-server")
NETWORK_WAIT_HINT = "Codex was still waiting for chatgpt.com; check your connection, then refresh."
UPDATED_NOTIFICATION = "account/rateLimits/updated"
# How Codex's HTTP client (reqwest) words a request that never got an answer.
_CONNECTION_FAILURE = re.compile(
    r"error sending request|connection refused|dns error|failed to lookup|"
    r"tcp connect error|connection reset|timed out|operation timed out",
    re.I,
)


# -- mapping replies to a snapshot ------------------------------------------------------------


def _buckets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every bucket's raw snapshot, each carrying its limitId, the main bucket included once."""
    raws: list[dict[str, Any]] = []
    by_id = result.get("rateLimitsByLimitId")
    if isinstance(by_id, dict):
        for key, raw in by_id.items():
            if isinstance(raw, dict):
                raws.append(raw if raw.get("limitId") else {**raw, "limitId": key})
    has_main = any((raw.get("limitId") or MAIN_LIMIT_ID) == MAIN_LIMIT_ID for raw in raws)
    main = result.get("rateLimits")
    if not has_main and isinstance(main, dict):
        raws.insert(0, main)
    return raws


def _main_bucket(result: dict[str, Any]) -> dict[str, Any]:
    main = result.get("rateLimits")
    if isinstance(main, dict):
        return main
    by_id = result.get("rateLimitsByLimitId")
    if isinstance(by_id, dict) and isinstance(by_id.get(MAIN_LIMIT_ID), dict):
        return by_id[MAIN_LIMIT_ID]
    return {}


def _account(account_reply: Any) -> dict[str, Any]:
    if isinstance(account_reply, dict) and isinstance(account_reply.get("account"), dict):
        return account_reply["account"]
    return {}


def snapshot_from_rate_limits(
    result: Any, account_reply: Any, *, source: str, fetched_at: datetime
) -> UsageSnapshot:
    """Map an `account/rateLimits/read` result (and `account/read`, when it answered)."""
    if not isinstance(result, dict):
        raise SourceError(
            ErrorKind.PARSE,
            "The Codex CLI answered `account/rateLimits/read` with something unexpected.",
            "Update the Codex CLI, or try `--source oauth`.",
        )
    readings = [
        reading
        for raw in _buckets(result)
        if (reading := parse_rate_limit_snapshot(raw, fetched_at)) is not None
    ]
    windows = tuple(w for reading in readings for w in reading.windows)
    main = _main_bucket(result)
    credits = parse_credits(main.get("credits"))
    limits = account_limits(result, readings)  # credit pool, block, reset credits, notes
    no_balance = credits is None or (credits.balance is None and not credits.unlimited)
    if not windows and limits.credit_pool is None and no_balance:
        raise SourceError(
            ErrorKind.PARSE,
            "The Codex CLI answered without any rate limits or credits.",
            "Codex may not know the limits yet; refresh later, or try `--source oauth`.",
        )
    account = _account(account_reply)
    main_plan = next((r.plan for r in readings if r.is_main and r.plan), None)
    identity = Identity(
        email=as_str(account.get("email")),
        # The backend's answer of a moment ago beats the login token's claim, which can be days
        # old (an upgrade shows up here first).
        plan=main_plan or as_str(main.get("planType")) or as_str(account.get("planType")),
        account_id=as_str(result.get("accountId")),
    )
    return UsageSnapshot(
        source=source,
        fetched_at=fetched_at,
        observed_at=fetched_at,
        windows=windows,
        credits=credits,
        identity=identity,
        credit_pool=limits.credit_pool,
        blocked=limits.blocked,
        limit_resets=limits.limit_resets,
        notes=limits.notes,
    )


def _embedded_body(message: str) -> Any:
    """The JSON object Codex embeds after `body=` when it could not decode the backend's answer
    (an unknown plan type, say); None when there is none."""
    at = message.find("body=")
    start = message.find("{", at) if at >= 0 else -1
    if start < 0:
        return None
    try:
        body, _ = json.JSONDecoder().raw_decode(message[start:])
    except ValueError:
        return None
    return body


def _short(message: str) -> str:
    """The error without the embedded body (an HTML page, a JSON document), redacted."""
    text = message.split("; content-type=")[0].split("; body=")[0]
    text = text.removeprefix("failed to fetch codex rate limits: ")
    return redact(text if len(text) <= 200 else text[:199] + "…")


def snapshot_from_error(
    error: RpcError, account_reply: Any, *, source: str, fetched_at: datetime
) -> UsageSnapshot:
    """Turn an error reply into the SourceError the user can act on, or recover the reading when
    Codex embedded the backend's body in it."""
    message = error.message
    lowered = message.lower()
    if "authentication required" in lowered:
        if _account(account_reply).get("type") == "apiKey":
            raise SourceError(
                ErrorKind.AUTH,
                "Codex is signed in with an API key; plan limits need a ChatGPT login.",
                "Run `codex login` and choose Sign in with ChatGPT.",
            )
        raise SourceError(ErrorKind.AUTH, "Codex is not logged in.", "Run `codex login`.")
    unknown_method = "unknown variant" in lowered or "method not found" in lowered
    if error.code == -32601 or (error.code == -32600 and unknown_method):
        raise SourceError(
            ErrorKind.UNSUPPORTED,
            "This Codex CLI is too old to report rate limits (it does not know "
            "`account/rateLimits/read`).",
            "Update it with `npm i -g @openai/codex`.",
        )
    body = _embedded_body(message)
    if isinstance(body, dict):
        try:
            identity = Identity(
                email=as_str(_account(account_reply).get("email")),
                plan=as_str(_account(account_reply).get("planType")),
            )
            return parse_wham_usage(body, source=source, fetched_at=fetched_at, identity=identity)
        except SourceError:
            pass  # not a usage body (an error document): report the failure itself
    status = re.search(r"failed: (\d{3})\b", message)
    if status and status.group(1) in ("401", "403"):
        raise SourceError(
            ErrorKind.AUTH,
            f"Codex login expired or was rejected (the usage API answered {status.group(1)}).",
            "Run `codex login`.",
        )
    if status and status.group(1).startswith("5"):
        raise SourceError(
            ErrorKind.NETWORK,
            f"chatgpt.com answered with an error (HTTP {status.group(1)}), the Codex CLI says.",
            "chatgpt.com may be busy or down; try again in a few minutes.",
        )
    if status is None and _CONNECTION_FAILURE.search(message):
        raise SourceError(
            ErrorKind.NETWORK,
            "The Codex CLI could not reach chatgpt.com.",
            "Check your connection, then refresh.",
        )
    raise SourceError(
        ErrorKind.NETWORK,
        f"The Codex CLI could not fetch the rate limits ({_short(message)}).",
        "chatgpt.com may be busy or down; try again in a few minutes.",
    )


def merge_update(result: dict[str, Any], update: Any) -> dict[str, Any]:
    """Apply a sparse `account/rateLimits/updated` snapshot to the last full result: non-null
    values replace, nulls leave the field as it was."""
    merged = copy.deepcopy(result)
    if not isinstance(update, dict):
        return merged
    limit_id = as_str(update.get("limitId")) or MAIN_LIMIT_ID
    by_id = merged.get("rateLimitsByLimitId")
    if not isinstance(by_id, dict):
        by_id = merged["rateLimitsByLimitId"] = {}
    targets = [by_id.setdefault(limit_id, {"limitId": limit_id})]
    if limit_id == MAIN_LIMIT_ID:
        if not isinstance(merged.get("rateLimits"), dict):
            merged["rateLimits"] = {}
        targets.append(merged["rateLimits"])
    for target in targets:
        _merge_non_null(target, update)
    return merged


def _merge_non_null(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_non_null(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


# -- the source ---------------------------------------------------------------------------------


class RpcSource(UsageSource):
    name = "rpc"
    title = "Codex CLI"
    order = 20
    uses_network = True

    def __init__(self) -> None:
        self.gate = LaunchGate()
        # Tests shorten the idle stop; users set `rpc.idle_minutes`.
        self.idle_seconds: float | None = None
        self._fetch_lock = threading.RLock()  # one fetch (and one server) at a time
        self._state_lock = threading.Lock()  # the last reading, shared with the reader thread
        self._server: AppServer | None = None
        self._server_key: tuple[Path, Path] | None = None
        self._idle_timer: threading.Timer | None = None
        self._last_result: dict[str, Any] | None = None
        self._last_account: Any = None
        self._ctx: SourceContext | None = None

    def unavailable(self, ctx: SourceContext) -> SourceError | None:
        return missing_codex(ctx)

    def diagnostics(self, ctx: SourceContext) -> list[str]:
        lines = binary_diagnostics(ctx)
        server = self._server
        if server is not None and server.alive:
            lines.append(f"kept-alive app-server: pid {server.pid}")
        return lines

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        binary = find_codex(ctx.settings.get("codex_path"), ctx.env)
        # Codex's stderr and error replies can quote its tokens (an opaque refresh token, which
        # no pattern recognises): redaction must know their values before anything is shown,
        # and again afterwards, in case Codex refreshed them meanwhile.
        remember_secrets(ctx.home, ctx.env)
        try:
            if ctx.keep_alive:
                return self._fetch_kept_alive(ctx, binary)
            self.gate.check(ctx.interactive)
            server = self._launch(ctx, binary, on_notification=None)
            try:
                return self._read(server, ctx)
            finally:
                server.close()
        finally:
            remember_secrets(ctx.home, ctx.env)

    def close(self) -> None:
        with self._fetch_lock:
            self._cancel_idle_timer()
            self._stop_server()

    # -- internals ---------------------------------------------------------------------------

    def _launch(self, ctx: SourceContext, binary: Path, on_notification: Any) -> AppServer:
        argv = [str(binary), *APP_SERVER_ARGS]
        # Codex writes databases and locks into its home; it gets a scratch one (see
        # ScratchHome), unless its login lives in the keyring, which only the real home opens.
        scratch = ScratchHome.make(ctx.home, ctx.env)
        try:
            server = AppServer.start(
                argv,
                child_env(ctx.env, scratch.path if scratch else ctx.home, binary),
                timeout=ctx.remaining(_appserver.START_TIMEOUT_SECONDS),
                on_notification=on_notification,
                cleanup=scratch.remove if scratch else None,
            )
        except BaseException as error:
            if scratch is not None:  # a child that never started cannot clean up after itself
                scratch.remove()
            if isinstance(error, SourceError):
                self.gate.failed(error)
            raise
        self.gate.succeeded()
        return server

    def _read(self, server: AppServer, ctx: SourceContext) -> UsageSnapshot:
        seconds = ctx.remaining(_appserver.REQUEST_TIMEOUT_SECONDS)
        deadline = time.monotonic() + seconds
        account_id = server.send("account/read", {"refreshToken": False})
        limits_id = server.send("account/rateLimits/read")
        fetched_at = ctx.now()
        limits_error: RpcError | None = None
        result: Any = None
        try:
            # Codex asks chatgpt.com for these: a wait here is the network's, not the CLI's.
            result = server.wait(
                limits_id, "account/rateLimits/read", deadline, seconds, hint=NETWORK_WAIT_HINT
            )
        except RpcError as error:
            limits_error = error
        try:  # best effort: only the email and plan depend on it
            account = server.wait(account_id, "account/read", deadline, seconds)
        except (RpcError, SourceError) as error:
            log.debug("account/read failed: %s", error)
            account = None
        if limits_error is not None:
            return snapshot_from_error(
                limits_error, account, source=self.name, fetched_at=fetched_at
            )
        snapshot = snapshot_from_rate_limits(
            result, account, source=self.name, fetched_at=fetched_at
        )
        with self._state_lock:
            self._last_result = result
            self._last_account = account
        return snapshot

    def _fetch_kept_alive(self, ctx: SourceContext, binary: Path) -> UsageSnapshot:
        with self._fetch_lock:
            self._cancel_idle_timer()
            with self._state_lock:
                self._ctx = ctx
            try:
                for attempt in (1, 2):
                    server = self._server
                    key = (binary, ctx.home)
                    if server is not None and (not server.alive or self._server_key != key):
                        self._stop_server()
                        server = None
                    reused = server is not None
                    if server is None:
                        self.gate.check(ctx.interactive)
                        server = self._launch(ctx, binary, on_notification=self._on_notification)
                        self._server, self._server_key = server, key
                    try:
                        return self._read(server, ctx)
                    except SourceError as error:
                        if error.kind in (ErrorKind.TIMEOUT, ErrorKind.UNSUPPORTED):
                            died = not server.alive
                            self._stop_server()
                            # A kept server that died since the last refresh is restarted once.
                            if died and reused and attempt == 1:
                                continue
                        raise
                raise AssertionError("unreachable")
            finally:
                self._schedule_idle_stop(ctx)

    def _on_notification(self, method: str, params: Any) -> None:
        if method != UPDATED_NOTIFICATION or not isinstance(params, dict):
            return
        with self._state_lock:
            if self._last_result is None or self._ctx is None:
                return  # nothing to merge into yet: the next read brings the full picture
            self._last_result = merge_update(self._last_result, params.get("rateLimits"))
            result, account, ctx = self._last_result, self._last_account, self._ctx
        if ctx.on_update is None:
            return
        try:
            snapshot = snapshot_from_rate_limits(
                result, account, source=self.name, fetched_at=ctx.now()
            )
        except SourceError:
            return
        ctx.on_update(snapshot.with_reset_flags(ctx.now()))

    def _schedule_idle_stop(self, ctx: SourceContext) -> None:
        if self._server is None:
            return
        seconds = self.idle_seconds
        if seconds is None:
            seconds = float(ctx.settings.get("rpc.idle_minutes")) * 60
        timer = threading.Timer(seconds, self._stop_when_idle)
        timer.daemon = True
        timer.name = "codex-rpc-idle"
        self._idle_timer = timer
        timer.start()

    def _stop_when_idle(self) -> None:
        with self._fetch_lock:
            if self._idle_timer is not None and self._idle_timer is threading.current_thread():
                self._idle_timer = None
                self._stop_server()

    def _cancel_idle_timer(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()

    def _stop_server(self) -> None:
        server, self._server, self._server_key = self._server, None, None
        if server is not None:
            server.close()
