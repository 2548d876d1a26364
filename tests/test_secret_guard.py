"""The suite-wide guard really fails a test that prints a token."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]


def test_guard_fails_a_test_that_prints_a_secret(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    # A secret known only to the inner run, so this test's own output stays clean.
    pytester.makeconftest(
        "from tests.conftest import pytest_runtest_makereport, SECRET_VALUES  # noqa: F401\n"
        "SECRET_VALUES.append('inner-secret-value-4242')\n"
    )
    pytester.makepyfile(
        "def test_leaks():\n"
        "    print('token:', 'inner-secret-value-4242')\n"
        "def test_clean():\n"
        "    print('nothing to see')\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--rootdir={pytester.path}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*a secret value appeared*test_leaks*"])
