"""`codexbar watch`: a full-screen terminal view of the limits, the cost and the newest responses.

`feed` gathers what is shown (the store's reading, a fetch in the background when it is not
current, the cost totals, the responses Codex writes into its session logs); `view` draws it
with Rich; `keys` reads q and Ctrl-C without a busy loop.

Rich rather than Textual: the view only draws and reads one key, which Rich's `Live` does in a
tenth of a second of imports (about 0.1 s here), where Textual's application framework, CSS and
async event loop take several times that to start and bring a second rendering layer to keep
working on every terminal.
"""
