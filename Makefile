# ipcscope: build and install the tool, its manual and shell completions, and, when they are
# in the tree, the C library (Sources/MBVIPC) and the Wireshark dissector (docs/wireshark).
#
#   make                          release build, man pages and completions (into $(SCRATCH))
#   make install                  install all of it under $(DESTDIR)$(PREFIX)
#   make uninstall                remove exactly what install put there
#   make CONFIG=debug install     the same from a debug build: quicker to build, far slower calls
#   make PREFIX=/usr DESTDIR=$$PWD/pkg install    what a distribution package does
#   make fuzz                     coverage-guided fuzzing with libFuzzer, FUZZ_SECONDS (60) a target: the
#                                 C library (fuzz/run.sh), then the Swift parsers (fuzz/swift/run.sh);
#                                 see docs/reliability.md
#
# `make install` builds only what is missing or older than the sources, so `make && sudo make
# install` compiles as the user. Only the first build needs the network (SwiftPM resolves the
# packages once); after that everything here works offline.
#
# Variables: PREFIX (/usr/local), DESTDIR, BINDIR, MANDIR, BASHCOMPDIR, ZSHCOMPDIR, FISHCOMPDIR, SYSTEMDUNITDIR,
# WIRESHARK_PLUGINDIR, CONFIG (release|debug), SWIFT, SWIFT_FLAGS, SCRATCH (.build),
# SOURCE_DATE_EPOCH (dates the man pages, for reproducible builds).

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
# The exporter's unit (docs/systemd), its ExecStart pointed at BINDIR; not enabled (systemctl enable).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
EXPORTER_UNIT = docs/systemd/ipcscope-exporter.service
MULTIARCH ?= $(or $(shell $(CC) -print-multiarch 2>/dev/null),$(shell uname -m)-linux-gnu)

CONFIG ?= release
SWIFT ?= swift
SWIFT_FLAGS ?=
SCRATCH ?= .build
BIN ?= $(SCRATCH)/$(CONFIG)
INSTALL ?= install

# Made once per scratch folder: the tidied man page and the completion scripts.
OUT = $(SCRATCH)/dist
# DESTDIR as an absolute path without a trailing slash (the C library's make runs elsewhere).
DEST = $(if $(DESTDIR),$(abspath $(DESTDIR)))

CLIB = Sources/MBVIPC
HAVE_CLIB := $(wildcard $(CLIB)/Makefile)
DISSECTOR = docs/wireshark/ipcscope.lua
HAVE_DISSECTOR := $(wildcard $(DISSECTOR))
# The Lua plugin folder of the installed Wireshark (Debian's: /usr/lib/MULTIARCH/wireshark/plugins);
# without Wireshark, the same place under PREFIX.
ifndef WIRESHARK_PLUGINDIR
WIRESHARK_PLUGINDIR = $(or $(shell tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:[[:space:]]*//p'),$(PREFIX)/lib/$(MULTIARCH)/wireshark/plugins)
endif

# Hand-written pages: what the CLI's help text cannot say.
MAN5 = docs/man/ipcscope-section.5
MAN3 = $(if $(HAVE_CLIB),docs/man/mbv_ipc.3)
# Every function mbv_ipc(3) describes gets a page that points to it (`man MBV_IPCCall`).
MAN3_LINKS = $(if $(HAVE_CLIB),MBV_IPCInitServer MBV_IPCInitServerA MBV_IPCInitServerEx \
	MBV_IPCServerLoop MBV_IPCStopServer MBV_IPCFreeServer MBV_IPCServerCapacities \
	MBV_IPCConnect MBV_IPCConnectA MBV_IPCCall MBV_IPCCallTimeout MBV_IPCDisconnect \
	MBV_IPCLastError MBV_IPCLastErrorMessage)
SEE_ALSO = ipcscope-section 5$(if $(HAVE_CLIB),$(comma)mbv_ipc 3)
comma = ,
MAN_DATE = $(if $(SOURCE_DATE_EPOCH),--date $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%d))

SOURCES := Package.swift $(shell find Sources -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) \
	-not -path '$(CLIB)/*' 2>/dev/null)
GENERATED = $(OUT)/man/ipcscope.1 $(OUT)/completions/ipcscope.bash $(OUT)/completions/_ipcscope \
	$(OUT)/completions/ipcscope.fish

all: $(BIN)/ipcscope $(GENERATED)
ifneq ($(HAVE_CLIB),)
	$(MAKE) -C $(CLIB)
endif

# SwiftPM decides what to recompile; the touch marks the binary current for make.
$(BIN)/ipcscope: $(SOURCES)
	$(SWIFT) build $(SWIFT_FLAGS) --scratch-path $(SCRATCH) -c $(CONFIG) --product ipcscope
	touch $@

# The manual comes from the CLI's own help text through swift-argument-parser's plugin
# (it builds the package's executables in CONFIG first, then runs them with
# --experimental-dump-help), then docs/man/tidy-manual.awk makes it warning-free mdoc.
man: $(OUT)/man/ipcscope.1
$(OUT)/man/ipcscope.1: $(BIN)/ipcscope docs/man/tidy-manual.awk Makefile
	rm -rf $(OUT)/man.tmp && mkdir -p $(OUT)/man.tmp $(@D)
	$(SWIFT) package $(SWIFT_FLAGS) --scratch-path $(SCRATCH) \
		--allow-writing-to-directory $(abspath $(OUT)/man.tmp) \
		generate-manual --configuration $(CONFIG) $(MAN_DATE) --output-directory $(abspath $(OUT)/man.tmp)
	awk -v see_also='$(SEE_ALSO)' -f docs/man/tidy-manual.awk $(OUT)/man.tmp/ipcscope.1 > $@.tmp
	mv $@.tmp $@ && rm -rf $(OUT)/man.tmp

completions: $(OUT)/completions/ipcscope.bash $(OUT)/completions/_ipcscope $(OUT)/completions/ipcscope.fish
$(OUT)/completions/ipcscope.bash: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script bash > $@.tmp && mv $@.tmp $@
$(OUT)/completions/_ipcscope: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script zsh > $@.tmp && mv $@.tmp $@
$(OUT)/completions/ipcscope.fish: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script fish > $@.tmp && mv $@.tmp $@

install: $(BIN)/ipcscope $(GENERATED)
	$(INSTALL) -d $(DEST)$(BINDIR) $(DEST)$(MANDIR)/man1 $(DEST)$(MANDIR)/man5 \
		$(DEST)$(BASHCOMPDIR) $(DEST)$(ZSHCOMPDIR) $(DEST)$(FISHCOMPDIR)
	$(INSTALL) -m 755 $(BIN)/ipcscope $(DEST)$(BINDIR)/ipcscope
	$(INSTALL) -m 644 $(OUT)/man/ipcscope.1 $(DEST)$(MANDIR)/man1/ipcscope.1
	$(INSTALL) -m 644 $(MAN5) $(DEST)$(MANDIR)/man5/
	$(INSTALL) -m 644 $(OUT)/completions/ipcscope.bash $(DEST)$(BASHCOMPDIR)/ipcscope
	$(INSTALL) -m 644 $(OUT)/completions/_ipcscope $(DEST)$(ZSHCOMPDIR)/_ipcscope
	$(INSTALL) -m 644 $(OUT)/completions/ipcscope.fish $(DEST)$(FISHCOMPDIR)/ipcscope.fish
	$(INSTALL) -d $(DEST)$(SYSTEMDUNITDIR)
	sed 's|/usr/local/bin/ipcscope|$(BINDIR)/ipcscope|' $(EXPORTER_UNIT) > $(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service.tmp
	chmod 644 $(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service.tmp
	mv $(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service.tmp $(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service
ifneq ($(HAVE_CLIB),)
	$(MAKE) -C $(CLIB) install PREFIX=$(PREFIX) DESTDIR=$(DEST)
	$(INSTALL) -d $(DEST)$(MANDIR)/man3
	$(INSTALL) -m 644 $(MAN3) $(DEST)$(MANDIR)/man3/
	for f in $(MAN3_LINKS); do echo '.so man3/mbv_ipc.3' > $(DEST)$(MANDIR)/man3/$$f.3; done
endif
ifneq ($(HAVE_DISSECTOR),)
	dir='$(DEST)$(WIRESHARK_PLUGINDIR)' && $(INSTALL) -d "$$dir" && $(INSTALL) -m 644 $(DISSECTOR) "$$dir/"
endif

# Removes our files. Under a DESTDIR (a staging tree) the folders left empty go too, up to
# DESTDIR itself; on the live system folders stay, since others may have made them.
uninstall:
	rm -f $(DEST)$(BINDIR)/ipcscope $(DEST)$(MANDIR)/man1/ipcscope.1 $(DEST)$(MANDIR)/man5/ipcscope-section.5 \
		$(DEST)$(BASHCOMPDIR)/ipcscope $(DEST)$(ZSHCOMPDIR)/_ipcscope $(DEST)$(FISHCOMPDIR)/ipcscope.fish \
		$(DEST)$(MANDIR)/man3/mbv_ipc.3 $(foreach f,$(MAN3_LINKS),$(DEST)$(MANDIR)/man3/$(f).3) \
		$(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service
ifneq ($(HAVE_CLIB),)
	$(MAKE) -C $(CLIB) uninstall PREFIX=$(PREFIX) DESTDIR=$(DEST)
endif
	dir='$(DEST)$(if $(HAVE_DISSECTOR),$(WIRESHARK_PLUGINDIR))'; \
	if [ -n '$(HAVE_DISSECTOR)' ]; then rm -f "$$dir/ipcscope.lua"; fi; \
	if [ -n '$(DEST)' ]; then \
		for d in $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man3 $(MANDIR)/man5 $(BASHCOMPDIR) $(ZSHCOMPDIR) \
			$(FISHCOMPDIR) $(SYSTEMDUNITDIR) $(PREFIX)/lib/pkgconfig $(PREFIX)/include "$${dir#$(DEST)}"; do \
			d='$(DEST)'"$$d"; \
			while [ "$$d" != '$(DEST)' ] && [ "$${d#$(DEST)/}" != "$$d" ] && rmdir "$$d" 2>/dev/null; do \
				d="$${d%/*}"; \
			done; \
		done; \
	fi

clean:
	rm -rf $(OUT)

# Builds each target of fuzz/ with clang -fsanitize=fuzzer,address,undefined and runs it for
# FUZZ_SECONDS; new inputs go to $(SCRATCH)/cfuzz/corpus, crashes to fuzz/crashes/TARGET. Then the
# same for the Swift parsers: ipcscope-libfuzz built with swiftc -sanitize=fuzzer,address into
# .build-fuzz, crashes to fuzz/crashes/swift-TARGET.
fuzz:
	FUZZ_OUT=$(abspath $(SCRATCH))/cfuzz fuzz/run.sh
	FUZZ_OUT=$(abspath $(SCRATCH))/cfuzz fuzz/swift/run.sh

.PHONY: all man completions install uninstall clean fuzz
