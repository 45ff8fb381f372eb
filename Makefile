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
#   make STATIC=1 install         a binary that needs no Swift installed (the Swift standard
#                                 library and Foundation linked in; its own scratch folder)
#   make deb                      Debian packages (ipcscope, libmbvipc1, libmbvipc-dev) of a
#                                 STATIC=1 build, into $(DEBDIR); see docs/packaging.md
#
# `make install` builds only what is missing or older than the sources, so `make && sudo make
# install` compiles as the user. Only the first build needs the network (SwiftPM resolves the
# packages once); after that everything here works offline.
#
# Variables: PREFIX (/usr/local), DESTDIR, BINDIR, MANDIR, BASHCOMPDIR, ZSHCOMPDIR, FISHCOMPDIR, SYSTEMDUNITDIR,
# WIRESHARK_PLUGINDIR, CONFIG (release|debug), SWIFT, SWIFT_FLAGS, STATIC (0|1),
# SCRATCH (.build; .build-static with STATIC=1), EXTRA_BINARIES, DEBDIR,
# SOURCE_DATE_EPOCH (dates the man pages, for reproducible builds).

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
LIBDIR ?= $(PREFIX)/lib
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
# STATIC=1 links the Swift standard library, Foundation and Dispatch into the executables, so
# `ldd ipcscope` lists only system libraries (libc, libm, libstdc++, libgcc_s, ncursesw, tinfo)
# and a copy runs where no Swift is installed. It is what `swift build --static-swift-stdlib`
# does (-static-stdlib to every compile and link), spelled so that every SwiftPM command
# accepts it (`swift package` has no --static-swift-stdlib). No $ORIGIN run path either (nothing to find beside it),
# and the GOT read-only after start (-z now: Debian's hardening "bindnow").
STATIC ?= 0
STATIC_FLAGS = $(if $(filter 1,$(STATIC)),-Xswiftc -static-stdlib --disable-local-rpath -Xlinker -z -Xlinker now)
SCRATCH ?= $(if $(filter 1,$(STATIC)),.build-static,.build)
SWIFTPM_FLAGS = $(SWIFT_FLAGS) $(STATIC_FLAGS)
BIN ?= $(SCRATCH)/$(CONFIG)
INSTALL ?= install
# Further programs to install into BINDIR beside ipcscope, as paths to built files. `make deb`
# puts them in the ipcscope package. (The static agent, mbvipc-agent, comes with the C library.)
EXTRA_BINARIES ?=

# Made once per scratch folder: the tidied man page and the completion scripts.
OUT = $(SCRATCH)/dist
# DESTDIR as an absolute path without a trailing slash (the C library's make runs elsewhere).
DEST = $(if $(DESTDIR),$(abspath $(DESTDIR)))

CLIB = Sources/MBVIPC
HAVE_CLIB := $(wildcard $(CLIB)/Makefile)
# Where the C library's make builds (relative to $(CLIB), or absolute) and installs.
CLIB_BUILD ?= build
CLIB_VARS = O=$(CLIB_BUILD) PREFIX=$(PREFIX) LIBDIR=$(LIBDIR) BINDIR=$(BINDIR)
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
AGENT_MAN = docs/man/mbvipc-agent.1
# Every function mbv_ipc(3) describes gets a page that points to it (`man MBV_IPCCall`).
MAN3_LINKS = $(if $(HAVE_CLIB),MBV_IPCInitServer MBV_IPCInitServerA MBV_IPCInitServerEx \
	MBV_IPCServerLoop MBV_IPCStopServer MBV_IPCFreeServer MBV_IPCServerCapacities \
	MBV_IPCConnect MBV_IPCConnectA MBV_IPCCall MBV_IPCCallTimeout MBV_IPCDisconnect \
	MBV_IPCLastError MBV_IPCLastErrorMessage)
SEE_ALSO = ipcscope-section 5$(if $(HAVE_CLIB),$(comma)mbv_ipc 3$(comma)mbvipc-agent 1)
comma = ,
MAN_DATE = $(if $(SOURCE_DATE_EPOCH),--date $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%d))

SOURCES := Package.swift $(shell find Sources -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) \
	-not -path '$(CLIB)/*' 2>/dev/null)
GENERATED = $(OUT)/man/ipcscope.1 $(OUT)/completions/ipcscope.bash $(OUT)/completions/_ipcscope \
	$(OUT)/completions/ipcscope.fish

# With the C library: the static agent too (mbvipc-agent, what --host and --via run on a target;
# --push-agent copies the installed one to a host that has none).
all: $(BIN)/ipcscope $(GENERATED)
ifneq ($(HAVE_CLIB),)
	$(MAKE) -C $(CLIB) $(CLIB_VARS) all agent
endif

# SwiftPM decides what to recompile; the touch marks the binary current for make. The Makefile
# is a prerequisite for its flags (STATIC_FLAGS): SwiftPM relinks when they change.
$(BIN)/ipcscope: $(SOURCES) Makefile
	$(SWIFT) build $(SWIFTPM_FLAGS) --scratch-path $(SCRATCH) -c $(CONFIG) --product ipcscope
	touch $@

# The manual comes from the CLI's own help text through swift-argument-parser's generate-manual
# tool (it runs ipcscope with --experimental-dump-help), then docs/man/tidy-manual.awk makes it
# warning-free mdoc. The tool is run directly: the package's generate-manual plugin would first
# build every executable of the package (bench, fuzz, torture) in CONFIG, doubling a static build.
man: $(OUT)/man/ipcscope.1
$(OUT)/man/ipcscope.1: $(BIN)/ipcscope docs/man/tidy-manual.awk Makefile
	rm -rf $(OUT)/man.tmp && mkdir -p $(OUT)/man.tmp $(@D)
	$(SWIFT) build $(SWIFTPM_FLAGS) --scratch-path $(SCRATCH) -c $(CONFIG) --product generate-manual
	$(BIN)/generate-manual $(BIN)/ipcscope $(MAN_DATE) --output-directory $(abspath $(OUT)/man.tmp)
	awk -v see_also='$(SEE_ALSO)' -f docs/man/tidy-manual.awk $(OUT)/man.tmp/ipcscope.1 > $@.tmp
	mv $@.tmp $@ && rm -rf $(OUT)/man.tmp

# bash sources its completion (no #! line: bash-completion's own convention, and lintian's).
completions: $(OUT)/completions/ipcscope.bash $(OUT)/completions/_ipcscope $(OUT)/completions/ipcscope.fish
$(OUT)/completions/ipcscope.bash: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script bash > $@.tmp && sed -i '1{/^#!/d;}' $@.tmp && mv $@.tmp $@
$(OUT)/completions/_ipcscope: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script zsh > $@.tmp && mv $@.tmp $@
$(OUT)/completions/ipcscope.fish: $(BIN)/ipcscope
	mkdir -p $(@D) && $(BIN)/ipcscope --generate-completion-script fish > $@.tmp && mv $@.tmp $@

install: $(BIN)/ipcscope $(GENERATED)
	$(INSTALL) -d $(DEST)$(BINDIR) $(DEST)$(MANDIR)/man1 $(DEST)$(MANDIR)/man5 \
		$(DEST)$(BASHCOMPDIR) $(DEST)$(ZSHCOMPDIR) $(DEST)$(FISHCOMPDIR)
	$(INSTALL) -m 755 $(BIN)/ipcscope $(EXTRA_BINARIES) $(DEST)$(BINDIR)/
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
	$(MAKE) -C $(CLIB) agent install $(CLIB_VARS) DESTDIR=$(DEST)
	$(INSTALL) -d $(DEST)$(MANDIR)/man3
	$(INSTALL) -m 644 $(MAN3) $(DEST)$(MANDIR)/man3/
	$(INSTALL) -m 644 $(AGENT_MAN) $(DEST)$(MANDIR)/man1/
	for f in $(MAN3_LINKS); do echo '.so man3/mbv_ipc.3' > $(DEST)$(MANDIR)/man3/$$f.3; done
endif
ifneq ($(HAVE_DISSECTOR),)
	dir='$(DEST)$(WIRESHARK_PLUGINDIR)' && $(INSTALL) -d "$$dir" && $(INSTALL) -m 644 $(DISSECTOR) "$$dir/"
endif

# Removes our files. Under a DESTDIR (a staging tree) the folders left empty go too, up to
# DESTDIR itself; on the live system folders stay, since others may have made them.
uninstall:
	rm -f $(DEST)$(BINDIR)/ipcscope $(foreach f,$(EXTRA_BINARIES),$(DEST)$(BINDIR)/$(notdir $(f))) $(DEST)$(MANDIR)/man1/ipcscope.1 $(DEST)$(MANDIR)/man5/ipcscope-section.5 \
		$(DEST)$(BASHCOMPDIR)/ipcscope $(DEST)$(ZSHCOMPDIR)/_ipcscope $(DEST)$(FISHCOMPDIR)/ipcscope.fish \
		$(DEST)$(MANDIR)/man3/mbv_ipc.3 $(DEST)$(MANDIR)/man1/mbvipc-agent.1 $(foreach f,$(MAN3_LINKS),$(DEST)$(MANDIR)/man3/$(f).3) \
		$(DEST)$(SYSTEMDUNITDIR)/ipcscope-exporter.service
ifneq ($(HAVE_CLIB),)
	$(MAKE) -C $(CLIB) uninstall $(CLIB_VARS) DESTDIR=$(DEST)
endif
	dir='$(DEST)$(if $(HAVE_DISSECTOR),$(WIRESHARK_PLUGINDIR))'; \
	if [ -n '$(HAVE_DISSECTOR)' ]; then rm -f "$$dir/ipcscope.lua"; fi; \
	if [ -n '$(DEST)' ]; then \
		for d in $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man3 $(MANDIR)/man5 $(BASHCOMPDIR) $(ZSHCOMPDIR) \
			$(FISHCOMPDIR) $(SYSTEMDUNITDIR) $(LIBDIR)/pkgconfig $(PREFIX)/include "$${dir#$(DEST)}"; do \
			d='$(DEST)'"$$d"; \
			while [ "$$d" != '$(DEST)' ] && [ "$${d#$(DEST)/}" != "$$d" ] && rmdir "$$d" 2>/dev/null; do \
				d="$${d%/*}"; \
			done; \
		done; \
	fi

# Debian packages: a STATIC=1 release build staged with `make PREFIX=/usr install` (the C library
# built again with dpkg-buildflags' hardening flags, the dissector where Debian's Wireshark reads
# Lua plugins), split by packaging/deb/build-debs into ipcscope, libmbvipc1 and libmbvipc-dev
# in DEBDIR. SOURCE_DATE_EPOCH defaults to the last commit's time, so a tree makes the same
# packages twice. docs/packaging.md says what goes where and why.
DEBDIR ?= .
DEB_REVISION ?= 1
# dpkg-deb's compressor: xz (Debian's default, the smallest: ~16 MB, half a minute for the
# 63 MB binary), gzip (~24 MB, a few seconds; what the tests use), zstd.
DEB_COMPRESSION ?= xz
DEB_WORK = $(SCRATCH)/deb
# The packages' man page and completions, kept between runs; made again when the date changes.
DEB_DIST = $(SCRATCH)/deb-dist
DEB_EPOCH = $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null),$(shell date +%s))
deb:
	@command -v dpkg-buildflags >/dev/null || { echo 'make deb: needs dpkg-dev (apt-get install -y dpkg-dev)' >&2; exit 1; }
	$(MAKE) STATIC=1 CONFIG=release deb-packages

deb-packages:
	rm -rf $(DEB_WORK) && mkdir -p $(DEB_WORK)
	if [ "$$(cat $(DEB_DIST)/epoch 2>/dev/null)" != '$(DEB_EPOCH)' ]; then \
		rm -rf $(DEB_DIST) && mkdir -p $(DEB_DIST) && echo '$(DEB_EPOCH)' > $(DEB_DIST)/epoch; fi
	$(MAKE) install OUT=$(DEB_DIST) PREFIX=/usr LIBDIR=/usr/lib/$(MULTIARCH) DESTDIR=$(DEB_WORK)/root \
		WIRESHARK_PLUGINDIR=/usr/lib/$(MULTIARCH)/wireshark/plugins SOURCE_DATE_EPOCH=$(DEB_EPOCH) \
		CLIB_BUILD=$(abspath $(DEB_WORK))/mbvipc \
		CFLAGS="$$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		LDFLAGS="$$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)"
	MULTIARCH=$(MULTIARCH) DEB_REVISION=$(DEB_REVISION) DEB_COMPRESSION=$(DEB_COMPRESSION) SOURCE_DATE_EPOCH=$(DEB_EPOCH) \
		packaging/deb/build-debs $(DEB_WORK)/root $(DEBDIR)

# lintian over what `make deb` made: fails on an error or a warning (docs/packaging.md says what
# it still reports, and why).
deb-lint:
	lintian --fail-on error,warning --display-info $(sort $(wildcard $(DEBDIR)/ipcscope_*.deb $(DEBDIR)/libmbvipc*.deb))

clean:
	rm -rf $(OUT)

# Builds each target of fuzz/ with clang -fsanitize=fuzzer,address,undefined and runs it for
# FUZZ_SECONDS; new inputs go to $(SCRATCH)/cfuzz/corpus, crashes to fuzz/crashes/TARGET. Then the
# same for the Swift parsers: ipcscope-libfuzz built with swiftc -sanitize=fuzzer,address into
# .build-fuzz, crashes to fuzz/crashes/swift-TARGET.
fuzz:
	FUZZ_OUT=$(abspath $(SCRATCH))/cfuzz fuzz/run.sh
	FUZZ_OUT=$(abspath $(SCRATCH))/cfuzz fuzz/swift/run.sh

.PHONY: all man completions install uninstall clean fuzz deb deb-packages deb-lint
