# The two commands a new user needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format bench bench-tray clean

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

# `make run` starts the tray. On Linux it first tries (once) to build PyGObject into .venv for
# the AppIndicator/GTK tray backends; without it pystray falls back to plain X11 (no menu).
run: $(VENV)/.installed $(VENV)/.tray-backend
	$(BIN)/codexbar $(ARGS)

$(VENV)/.tray-backend: | $(BIN)/python
	@if [ "$$(uname -s)" = Linux ] && ! $(BIN)/python -c 'import gi' 2>/dev/null; then \
	    echo "Installing PyGObject for the tray icon (needs the system packages in the README)..."; \
	    $(BIN)/python -m pip install --quiet 'PyGObject<3.51' || { \
	        echo "PyGObject could not be built, so the tray falls back to a menu-less X11 icon."; \
	        echo "Install the system packages, then run: rm $@ && make run"; \
	        echo "  Debian/Ubuntu: sudo apt install libgirepository1.0-dev libcairo2-dev pkg-config python3-dev gir1.2-ayatanaappindicator3-0.1"; \
	        echo "  Fedora: sudo dnf install gobject-introspection-devel cairo-gobject-devel pkgconf-pkg-config python3-devel libayatana-appindicator-gtk3"; \
	        echo "  Arch:   sudo pacman -S gobject-introspection cairo pkgconf libayatana-appindicator"; \
	    }; \
	fi
	@touch $@

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

# The tray's memory/CPU soak: 500 refreshes against a local server. Not part of `make test`.
bench-tray: $(VENV)/.installed-test
	$(BIN)/python bench/tray_soak.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
