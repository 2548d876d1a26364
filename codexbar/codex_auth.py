"""Reading Codex's auth.json, read-only, and the claims inside its JWTs.

We never verify, refresh or write these tokens: refresh tokens rotate, and a refresh we did not
write back would log Codex out. An expired login is reported so that Auto can move on to the Codex
CLI, which refreshes its own file.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from codexbar.codex_home import auth_path, read_codex_config
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import Identity
from codexbar.parsing import as_str, from_epoch, parse_timestamp
from codexbar.redact import remember
from codexbar.safe_files import MissingFile, UnreadableFile, read_text

AUTH_CLAIM = "https://api.openai.com/auth"
PROFILE_CLAIM = "https://api.openai.com/profile"
# Codex refreshes proactively once its last refresh is this old (TOKEN_REFRESH_INTERVAL).
REFRESH_INTERVAL = timedelta(days=8)
# Treat a token this close to expiry as expired: the request would race it.
EXPIRY_MARGIN = timedelta(minutes=1)

LOGIN_HINT = "Run `codex login`."
# auth.json is about 4 KB; anything near this is not Codex's.
MAX_AUTH_BYTES = 1 << 20


def decode_jwt_claims(token: Any) -> dict[str, Any]:
    """The payload of a JWT without verifying it; {} for anything that is not one.

    Some older Codex builds stored the id_token as its already-parsed claims object."""
    if isinstance(token, dict):
        return token
    if not isinstance(token, str) or token.count(".") < 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _pick(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) not in (None, ""):
            return mapping[key]
    return None


@dataclass(frozen=True)
class CodexAuth:
    path: Path
    access_token: str
    account_id: str | None
    id_claims: dict[str, Any] = field(default_factory=dict)
    access_claims: dict[str, Any] = field(default_factory=dict)
    last_refresh: datetime | None = None
    # Every secret value in the file, so that anything we print can be scrubbed of them.
    secrets: tuple[str, ...] = ()

    @property
    def email(self) -> str | None:
        profile = self.access_claims.get(PROFILE_CLAIM)
        return as_str(self.id_claims.get("email")) or (
            as_str(profile.get("email")) if isinstance(profile, dict) else None
        )

    @property
    def plan(self) -> str | None:
        for claims in (self.id_claims, self.access_claims):
            auth = claims.get(AUTH_CLAIM)
            if isinstance(auth, dict) and as_str(auth.get("chatgpt_plan_type")):
                return as_str(auth.get("chatgpt_plan_type"))
        return None

    @property
    def identity(self) -> Identity:
        return Identity(email=self.email, plan=self.plan, account_id=self.account_id)

    @property
    def expires_at(self) -> datetime | None:
        return from_epoch(self.access_claims.get("exp"))

    def staleness(self, now: datetime) -> str | None:
        """Why Codex would refresh this login before using it, or None when it is fresh."""
        expires = self.expires_at
        if expires is not None and expires - EXPIRY_MARGIN <= now:
            return f"the Codex access token expired at {expires:%Y-%m-%d %H:%M} UTC"
        if self.last_refresh is not None and now - self.last_refresh > REFRESH_INTERVAL:
            days = (now - self.last_refresh).days
            return f"the Codex login was last refreshed {days} days ago"
        return None


def _account_id_from_claims(*claims_list: dict[str, Any]) -> str | None:
    for claims in claims_list:
        auth = claims.get(AUTH_CLAIM)
        for holder in (claims, auth if isinstance(auth, dict) else {}):
            if as_str(holder.get("chatgpt_account_id")):
                return as_str(holder["chatgpt_account_id"])
    return None


def _missing_auth_error(home: Path, path: Path) -> SourceError:
    store = read_codex_config(home).get("cli_auth_credentials_store")
    if store in ("keyring", "auto"):
        return SourceError(
            ErrorKind.AUTH,
            f"Codex keeps its login in the system keyring (cli_auth_credentials_store = "
            f'"{store}"), and there is no {path}.',
            "The Codex CLI source reads it through Codex itself; choose Auto or Codex CLI.",
        )
    return SourceError(
        ErrorKind.AUTH, f"Codex is not logged in (no auth.json in {path.parent}).", LOGIN_HINT
    )


def _secret_values(data: dict[str, Any]) -> list[str]:
    """Every token-like string in auth.json (tokens, API key, agent keys), for redaction."""
    found: list[str] = []
    tokens = data.get("tokens")
    for holder in (data, tokens if isinstance(tokens, dict) else {}):
        for key, value in holder.items():
            if isinstance(value, str) and key not in ("auth_mode", "last_refresh", "account_id"):
                found.append(value)
    agent = data.get("agent_identity")
    if isinstance(agent, dict):
        found += [v for k, v in agent.items() if isinstance(v, str) and "key" in k.lower()]
    return found


def remember_secrets(home: Path, env: Mapping[str, str] | None = None) -> None:
    """Teach redaction the tokens in this home's auth.json, without failing: sources that never
    read the login themselves (the Codex CLI ones) still must never print it."""
    with contextlib.suppress(SourceError):
        read_auth(home, env)


def read_auth(home: Path, env: Mapping[str, str] | None = None) -> CodexAuth:
    """Load the ChatGPT login from auth.json, or raise a SourceError that says what to do."""
    path = auth_path(home, env)
    try:
        raw = read_text(path, MAX_AUTH_BYTES)
    except MissingFile:
        raise _missing_auth_error(home, path) from None
    except UnreadableFile as error:
        raise SourceError(
            ErrorKind.AUTH,
            f"Codex's login could not be read: {error}.",
            "Check the file, or run `codex login` again.",
        ) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise SourceError(
            ErrorKind.AUTH,
            f"Codex's {path} is not a JSON object.",
            "Run `codex login` to write it again.",
        )
    remember(_secret_values(data))

    api_key = as_str(data.get("OPENAI_API_KEY"))
    mode = as_str(data.get("auth_mode"))
    tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
    access_token = as_str(_pick(tokens, "access_token", "accessToken"))
    # Codex's own rule: without an auth_mode, a non-empty API key means API-key mode.
    if (
        (mode or "").lower() == "apikey"
        or (mode is None and api_key)
        or (api_key and not access_token)
    ):
        raise SourceError(
            ErrorKind.UNSUPPORTED,
            "Codex is logged in with an API key; plan limits exist only for ChatGPT logins.",
            "Run `codex login` and sign in with ChatGPT to see them.",
        )
    if not access_token:
        raise SourceError(ErrorKind.AUTH, f"Codex's {path} holds no ChatGPT tokens.", LOGIN_HINT)

    id_token = _pick(tokens, "id_token", "idToken")
    id_claims = decode_jwt_claims(id_token)
    access_claims = decode_jwt_claims(access_token)
    account_id = as_str(_pick(tokens, "account_id", "accountId")) or _account_id_from_claims(
        id_claims, access_claims
    )
    secrets = tuple(
        value
        for value in (
            access_token,
            id_token if isinstance(id_token, str) else None,
            as_str(_pick(tokens, "refresh_token", "refreshToken")),
            api_key,
        )
        if value
    )
    return CodexAuth(
        path=path,
        access_token=access_token,
        account_id=account_id,
        id_claims=id_claims,
        access_claims=access_claims,
        last_refresh=parse_timestamp(data.get("last_refresh")),
        secrets=secrets,
    )
