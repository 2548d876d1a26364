"""The local dashboard: a page and a JSON API on 127.0.0.1, guarded by a secret per run."""
