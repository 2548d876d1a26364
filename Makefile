# The two commands a new user needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format bench bench-profile bench-tray clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the project's metadata changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# `make run` starts the tray. On Linux desktops with a StatusNotifierItem tray (KDE, XFCE,
# GNOME with the AppIndicator extension, Waybar, Cinnamon, Budgie, LXQt) it needs nothing but
# Python: the tray speaks D-Bus itself (dbus-fast, a wheel). Only XEmbed-only trays (trayer,
# stalonetray, old panels) want PyGObject for a menu: `make xembed` builds it into .venv.
run: $(VENV)/.installed
	$(BIN)/codexbar $(ARGS)

.PHONY: xembed
xembed: $(VENV)/.installed
	@$(BIN)/python -c 'import gi' 2>/dev/null || $(BIN)/python -m pip install --quiet 'PyGObject<3.51' || { \
	    echo "PyGObject could not be built; install the system packages first:"; \
	    echo "  Debian/Ubuntu: sudo apt install libgirepository1.0-dev libcairo2-dev pkg-config python3-dev gir1.2-gtk-3.0"; \
	    echo "  Fedora: sudo dnf install gobject-introspection-devel cairo-gobject-devel pkgconf-pkg-config python3-devel gtk3"; \
	    echo "  Arch:   sudo pacman -S gobject-introspection cairo pkgconf gtk3"; \
	    exit 1; \
	}

test: $(VENV)/.installed-test
	$(BIN)/ruff check codexbar providers tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check codexbar providers tests

format: $(VENV)/.installed-test
	$(BIN)/ruff format codexbar providers tests

# Cost scanner benchmark against ccusage 20 (about 10 minutes; builds two ~2 GB corpora under
# .cache/bench once). Smaller: make bench BENCH_ARGS="--corpora c100 --runs 3". Not in `make test`.
bench: $(VENV)/.installed-test
	$(BIN)/python bench/cost_bench.py $(BENCH_ARGS)

# Where a cold scan's time goes on one core (walking lines, decoding, counting, saving) and the
# floors under any Python scanner; the profile behind `make bench`'s cold figures.
bench-profile: $(VENV)/.installed-test
	$(BIN)/python bench/cost_profile.py $(BENCH_ARGS)

# The tray's memory/CPU soak: `python -m codexbar` on the SNI backend, 500 refreshes clicked
# through its D-Bus menu against a local server; reports its RSS. Not part of `make test`.
bench-tray: $(VENV)/.installed-test
	$(BIN)/python bench/tray_soak.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
