"""`codexbar watch`: a full-screen terminal view of the limits, the cost and the newest responses.

`feed` gathers what is shown (the store's reading, a fetch in the background when it is not
current, the cost totals, the responses Codex writes into its session logs); `view` draws it
with Rich; `keys` reads q and Ctrl-C without a busy loop.

Rich rather than Textual: the view only draws and reads one key. Rich's `Live` does that with
about 0.1 s of imports (measured: `import rich.live, rich.table` 0.10 s against Textual 8.2's
`import textual.app, textual.widgets` 0.30 s, Python's own start included), and without an
application framework, CSS engine and async event loop that would have to keep working on every
terminal.
"""
