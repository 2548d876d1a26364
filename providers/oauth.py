"""OAuth source: chatgpt.com's `wham/usage` endpoint with the tokens in Codex's auth.json."""

from __future__ import annotations

from codexbar import USER_AGENT, http
from codexbar.codex_auth import read_auth
from codexbar.codex_home import chatgpt_base_url, read_codex_config, usage_url
from codexbar.errors import ErrorKind, SourceError
from codexbar.models import UsageSnapshot
from codexbar.sources import SourceContext, UsageSource
from codexbar.wham import parse_wham_usage

# The whole request (connect, headers, body); Auto's overall deadline may cut it shorter.
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
        http.check_login_url(url, "chatgpt_base_url")
        headers = {
            "Authorization": f"Bearer {auth.access_token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth.account_id:
            headers["ChatGPT-Account-Id"] = auth.account_id
        fetched_at = ctx.now()
        response = http.get(url, headers, seconds=ctx.remaining(TIMEOUT_SECONDS))
        if response.status in (401, 403):
            raise SourceError(
                ErrorKind.AUTH,
                f"Codex login expired or missing (the usage API answered {response.status}).",
                "Run `codex login`.",
            )
        failure = http.status_error(response)
        if failure is not None:
            raise failure
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
