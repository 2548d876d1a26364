"""What a fake `codex` saw of its CODEX_HOME, for the tests of the scratch home.

FAKE_CODEX_SEEN: a file that gets one JSON line per launch: the home, where its auth.json really
is, its config.toml's text, and whether the home is inside the user's real one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def record_home() -> None:
    seen = os.environ.get("FAKE_CODEX_SEEN")
    if not seen:
        return
    home = Path(os.environ.get("CODEX_HOME", ""))
    auth, config = home / "auth.json", home / "config.toml"
    entry = {
        "home": str(home),
        "auth": os.path.realpath(auth) if os.path.lexists(auth) else None,
        "auth_is_link": auth.is_symlink(),
        "config": config.read_text() if config.is_file() else None,
    }
    with open(seen, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
    # What the real Codex does to its home on every start: our probe must keep it away from
    # the user's files.
    if config.is_file():
        with open(config, "a") as handle:
            handle.write("\n[tui]\nscreen_reader_detection_done = true\n")
        config.chmod(0o600)
    if not (home / "installation_id").exists():
        (home / "installation_id").write_text("fake-id\n")
