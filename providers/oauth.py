"""OAuth source: chatgpt.com's `wham/usage` endpoint with the tokens in Codex's auth.json."""

from __future__ import annotations

import functools
import ssl

import httpx

from codexbar import USER_AGENT
from codexbar.codex_auth import read_auth
from codexbar.codex_home import chatgpt_base_url, read_codex_config, usage_url
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import UsageSnapshot
from codexbar.sources import SourceContext, UsageSource
from codexbar.wham import parse_wham_usage

TIMEOUT_SECONDS = 15.0


class OAuthSource(UsageSource):
    name = "oauth"
    title = "OAuth"
    order = 10

    def fetch(self, ctx: SourceContext) -> UsageSnapshot:
        auth = read_auth(ctx.home, ctx.env)
        stale = auth.staleness(ctx.now())
        if stale:
            raise SourceError(
                ErrorKind.AUTH,
                f"The Codex login needs a refresh ({stale}).",
                "codexbar never refreshes it itself: run `codex` once, or let Auto use the "
                "Codex CLI, which refreshes it.",
            )
        url = usage_url(chatgpt_base_url(read_codex_config(ctx.home)))
        headers = {
            "Authorization": f"Bearer {auth.access_token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth.account_id:
            headers["ChatGPT-Account-Id"] = auth.account_id
        fetched_at = ctx.now()
        response = _get(url, headers)
        if response.status_code in (401, 403):
            raise SourceError(
                ErrorKind.AUTH,
                f"Codex login expired or missing (the usage API answered {response.status_code}).",
                "Run `codex login`.",
            )
        if response.status_code != 200:
            raise SourceError(
                ErrorKind.NETWORK,
                f"The usage API answered {response.status_code} {response.reason_phrase}.".replace(
                    " .", "."
                ),
                "chatgpt.com may be busy or down; try again in a few minutes.",
            )
        try:
            body = response.json()
        except ValueError:
            raise SourceError(
                ErrorKind.PARSE,
                "The usage API answered with something that is not JSON.",
                "Codex may have changed its format; try `--source rpc`.",
            ) from None
        return parse_wham_usage(
            body, source=self.name, fetched_at=fetched_at, identity=auth.identity
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for the process: building one per request (loading the CA bundle) cost
    the tray ~20 ms of CPU and a few KB of memory that never came back, at every refresh."""
    return httpx.create_ssl_context()


def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    try:
        with httpx.Client(
            timeout=TIMEOUT_SECONDS, follow_redirects=False, verify=_tls_context()
        ) as client:
            return client.get(url, headers=headers)
    except httpx.TimeoutException:
        raise SourceError(
            ErrorKind.TIMEOUT,
            f"The usage API did not answer within {TIMEOUT_SECONDS:.0f} s.",
            "Check your connection, then refresh.",
        ) from None
    except httpx.HTTPError as error:
        raise SourceError(
            ErrorKind.NETWORK,
            f"Could not reach the usage API ({error}).",
            "Check your connection, then refresh.",
        ) from None
