# Install from a checkout: `make && sudo make install`, remove with `sudo make uninstall`.
# Distribution recipes (packaging/) stage into DESTDIR and use their own Python tooling for the package:
# `make install-data DESTDIR=...` installs everything that is not Python (helper launcher, polkit policy,
# desktop files, icons, metainfo, systemd unit). docs/packaging.md explains every path and choice.
#
# PREFIX must stay /usr. Three installed files are a security contract with absolute paths that cannot
# follow a prefix: polkitd reads actions only from /usr/share/polkit-1/actions, the policy's exec.path and
# the boot unit's ExecStart name /usr/libexec/mullvad-tailscale-tray/bypass-helper, and the app itself runs
# that path through pkexec (tray_app/paths.py). Use DESTDIR to stage elsewhere.

PREFIX ?= /usr
DESTDIR ?=
PYTHON ?= /usr/bin/python3
SYSCONFDIR ?= /etc
# Where the running systemd looks for units: /lib/systemd/system on Debian 12, /usr/lib/... elsewhere.
UNITDIR ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
# The target Python's own site directory: /usr/local/lib/python3.X/dist-packages on Debian (the admin's,
# not dpkg's), site-packages elsewhere. Packagers pass their distribution's directory. install-data writes it
# into the root helper's launcher, the only place that launcher imports tray_app from.
PYTHONDIR ?= $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# 0 when the bytecode would be for another Python than the target's (an RPM built on Debian).
PYCOMPILE ?= 1
RSVG_CONVERT ?= rsvg-convert
# Rendered icons go here (tests point it at a temporary directory).
BUILDDIR ?= build

APP := mullvad-tailscale-tray
APPID := io.github.mullvad_tailscale_tray
BINDIR := $(PREFIX)/bin
DATADIR := $(PREFIX)/share
HELPERDIR := $(PREFIX)/libexec/$(APP)
POLKITDIR := $(DATADIR)/polkit-1/actions
DOCDIR := $(DATADIR)/doc/$(APP)
PKGDATADIR := $(DATADIR)/$(APP)
ICONDIR := $(DATADIR)/icons/hicolor
ICON_SIZES := 16 22 24 32 48 64 128 256

# Files other parts of the project provide; a missing one fails the build by name instead of being skipped.
POLICY := polkit/io.github.mullvad-tailscale-tray.policy
RULES_EXAMPLE := polkit/50-mullvad-tailscale-tray.rules.example
UNIT := resources/systemd/mullvad-tailscale-bypass.service
ICON_SVG := resources/icons/hicolor/scalable/apps/$(APP).svg
# The pieces the tray composes its state icon from (tray_app/ui/icon.py looks in $(PKGDATADIR)/icons/parts).
ICON_PARTS = $(sort $(wildcard resources/icons/parts/*.svg))
DESKTOP := resources/$(APP).desktop
AUTOSTART := resources/$(APP)-autostart.desktop
METAINFO := resources/$(APPID).metainfo.xml
HELPER_LAUNCHER := packaging/bypass-helper
MANPAGE := packaging/$(APP).1
INPUTS := $(POLICY) $(RULES_EXAMPLE) $(UNIT) $(ICON_SVG) resources/icons/parts/main-connected.svg $(DESKTOP) $(AUTOSTART) $(METAINFO) \
          $(HELPER_LAUNCHER) $(MANPAGE)

PNGS := $(foreach s,$(ICON_SIZES),$(BUILDDIR)/icons/$(s)x$(s)/$(APP).png)
PY_FILES = $(shell find tray_app -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort)

.PHONY: all check-inputs check-prefix install install-python install-data uninstall clean help
.DELETE_ON_ERROR:

all: check-inputs $(PNGS)

help:
	@echo "make                 render the PNG icons (needs rsvg-convert: librsvg2-bin / librsvg2-tools / librsvg)"
	@echo "sudo make install    install under PREFIX=/usr (DESTDIR=... to stage)"
	@echo "sudo make uninstall  remove exactly what install put there"
	@echo "make install-data    everything but the Python package and the /usr/bin launcher (for packagers)"

check-inputs:
	@missing=""; for f in $(INPUTS); do [ -f "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	    echo "error: files the install needs are missing from the source tree:$$missing" >&2; \
	    echo "       (a partial checkout? run from the top of a complete clone)" >&2; exit 1; fi

check-prefix:
	@if [ "$(PREFIX)" != "/usr" ]; then \
	    echo "error: PREFIX=$(PREFIX) is not supported: the polkit policy, the boot unit and the app name" >&2; \
	    echo "       /usr/libexec/$(APP)/bypass-helper, and polkitd reads actions only from" >&2; \
	    echo "       /usr/share/polkit-1/actions. Install with PREFIX=/usr; stage with DESTDIR=..." >&2; exit 2; fi

$(BUILDDIR)/icons/%/$(APP).png: $(ICON_SVG)
	@command -v $(RSVG_CONVERT) >/dev/null || { echo "error: $(RSVG_CONVERT) not found: install librsvg2-bin (Debian/Ubuntu), librsvg2-tools (Fedora) or librsvg (Arch)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(RSVG_CONVERT) -w $(firstword $(subst x, ,$*)) -h $(firstword $(subst x, ,$*)) -f png -o $@ $<

install: install-python install-data
	@# Refresh the caches a package manager's triggers would refresh; only for a live install.
	@if [ -z "$(DESTDIR)" ]; then \
	    gtk-update-icon-cache -q -t "$(ICONDIR)" 2>/dev/null || true; \
	    update-desktop-database -q "$(DATADIR)/applications" 2>/dev/null || true; \
	    [ -d /run/systemd/system ] && systemctl daemon-reload || true; fi
	@echo
	@echo "Installed. The boot unit restores a bypass you turned on; enable it once with:"
	@echo "    sudo systemctl daemon-reload && sudo systemctl enable $(notdir $(UNIT))"

install-python: check-prefix check-inputs
	@set -e; for f in $(PY_FILES); do \
	    install -D -m 0644 "$$f" "$(DESTDIR)$(PYTHONDIR)/$$f"; done
	@if [ "$(PYCOMPILE)" = 1 ]; then \
	    $(PYTHON) -m compileall -q -d "$(PYTHONDIR)/tray_app" "$(DESTDIR)$(PYTHONDIR)/tray_app" >/dev/null; fi
	install -d -m 0755 "$(DESTDIR)$(BINDIR)"
	printf '#!%s\nimport sys\n\nfrom tray_app.cli import main\n\nsys.exit(main())\n' "$(PYTHON)" \
	    > "$(DESTDIR)$(BINDIR)/$(APP)"
	chmod 0755 "$(DESTDIR)$(BINDIR)/$(APP)"

install-data: check-prefix all
	@[ -n "$(PYTHONDIR)" ] || { echo "error: cannot find the site directory of $(PYTHON); pass PYTHONDIR=..." >&2; exit 1; }
	install -D -m 0755 $(HELPER_LAUNCHER) "$(DESTDIR)$(HELPERDIR)/bypass-helper"
	@# The target Python (keeping -IS) and the one directory the root helper imports tray_app from.
	sed -i -e '1s|^#!/usr/bin/python3 |#!$(PYTHON) |' \
	    -e 's|^PACKAGE_DIR = .*|PACKAGE_DIR = "$(PYTHONDIR)"  # PYTHONDIR of `make install-data`|' \
	    "$(DESTDIR)$(HELPERDIR)/bypass-helper"
	@grep -qx 'PACKAGE_DIR = "$(PYTHONDIR)"  # PYTHONDIR of `make install-data`' "$(DESTDIR)$(HELPERDIR)/bypass-helper" || \
	    { echo "error: could not set PACKAGE_DIR in the installed bypass-helper" >&2; exit 1; }
	install -D -m 0644 $(POLICY) "$(DESTDIR)$(POLKITDIR)/$(notdir $(POLICY))"
	install -D -m 0644 $(RULES_EXAMPLE) "$(DESTDIR)$(DOCDIR)/examples/$(notdir $(RULES_EXAMPLE))"
	install -D -m 0644 $(UNIT) "$(DESTDIR)$(UNITDIR)/$(notdir $(UNIT))"
	install -D -m 0644 $(DESKTOP) "$(DESTDIR)$(DATADIR)/applications/$(APP).desktop"
	# Same file name as the user's own autostart file, so that one overrides this one (XDG autostart spec).
	install -D -m 0644 $(AUTOSTART) "$(DESTDIR)$(SYSCONFDIR)/xdg/autostart/$(APP).desktop"
	install -D -m 0644 $(METAINFO) "$(DESTDIR)$(DATADIR)/metainfo/$(APPID).metainfo.xml"
	install -D -m 0644 $(ICON_SVG) "$(DESTDIR)$(ICONDIR)/scalable/apps/$(APP).svg"
	@set -e; for s in $(ICON_SIZES); do \
	    echo "install -D -m 0644 $(BUILDDIR)/icons/$${s}x$${s}/$(APP).png $(DESTDIR)$(ICONDIR)/$${s}x$${s}/apps/$(APP).png"; \
	    install -D -m 0644 $(BUILDDIR)/icons/$${s}x$${s}/$(APP).png "$(DESTDIR)$(ICONDIR)/$${s}x$${s}/apps/$(APP).png"; done
	install -d -m 0755 "$(DESTDIR)$(PKGDATADIR)/icons/parts"
	install -m 0644 $(ICON_PARTS) "$(DESTDIR)$(PKGDATADIR)/icons/parts/"
	# The tray also loads the app icon next to its parts; point there instead of keeping a second copy.
	install -d -m 0755 "$(DESTDIR)$(PKGDATADIR)/icons/hicolor/scalable/apps"
	ln -sfn ../../../../../icons/hicolor/scalable/apps/$(APP).svg \
	    "$(DESTDIR)$(PKGDATADIR)/icons/hicolor/scalable/apps/$(APP).svg"
	install -D -m 0644 $(MANPAGE) "$(DESTDIR)$(DATADIR)/man/man1/$(APP).1"

# Removes exactly the files install writes; the saved bypass state in /var/lib is the helper's and stays
# (turn the bypass off first with `mullvad-tailscale-tray bypass off` to remove it).
uninstall: check-prefix
	@[ -n "$(PYTHONDIR)" ] || { echo "error: cannot find the site directory of $(PYTHON); pass PYTHONDIR=..." >&2; exit 1; }
	rm -f "$(DESTDIR)$(BINDIR)/$(APP)"
	rm -rf "$(DESTDIR)$(PYTHONDIR)/tray_app"
	rm -f "$(DESTDIR)$(HELPERDIR)/bypass-helper"
	-rmdir "$(DESTDIR)$(HELPERDIR)" 2>/dev/null
	rm -f "$(DESTDIR)$(POLKITDIR)/$(notdir $(POLICY))"
	rm -f "$(DESTDIR)$(DOCDIR)/examples/$(notdir $(RULES_EXAMPLE))"
	-rmdir "$(DESTDIR)$(DOCDIR)/examples" "$(DESTDIR)$(DOCDIR)" 2>/dev/null
	rm -f "$(DESTDIR)$(UNITDIR)/$(notdir $(UNIT))"
	rm -f "$(DESTDIR)$(DATADIR)/applications/$(APP).desktop"
	rm -f "$(DESTDIR)$(SYSCONFDIR)/xdg/autostart/$(APP).desktop"
	rm -f "$(DESTDIR)$(DATADIR)/metainfo/$(APPID).metainfo.xml"
	rm -f "$(DESTDIR)$(ICONDIR)/scalable/apps/$(APP).svg"
	rm -f $(foreach s,$(ICON_SIZES),"$(DESTDIR)$(ICONDIR)/$(s)x$(s)/apps/$(APP).png")
	rm -rf "$(DESTDIR)$(PKGDATADIR)"
	rm -f "$(DESTDIR)$(DATADIR)/man/man1/$(APP).1"
	@if [ -z "$(DESTDIR)" ]; then \
	    gtk-update-icon-cache -q -t "$(ICONDIR)" 2>/dev/null || true; \
	    update-desktop-database -q "$(DATADIR)/applications" 2>/dev/null || true; \
	    [ -d /run/systemd/system ] && systemctl daemon-reload || true; fi

clean:
	rm -rf $(BUILDDIR) dist
