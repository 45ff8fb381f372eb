// `make install` into a temporary DESTDIR, as a user or a distribution installs ipcscope, then
// what a user tries next: run the installed binary, read its manual pages, tab-complete it,
// build a C program against the installed library with nothing but pkg-config; and
// `make uninstall` takes every file back.
//
// The Makefile installs from the build that built these tests (same scratch folder and
// configuration), so nothing is compiled here; it makes the man pages once into the scratch
// folder through swift-argument-parser's plugin. `swift test` holds the scratch folder's lock
// while tests run, hence SWIFT_FLAGS=--ignore-lock (the plugin's build finds everything built).
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import Testing
import TestSupport


/// `productsDirectory` is SCRATCH/<triple>/<configuration>.
private let buildConfiguration = String(productsDirectory.split(separator: "/").last ?? "debug")
private let scratchPath: String = {
    var path = productsDirectory
    for _ in 0..<2 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
    return path
}()

private let haveCLibrary = access(repositoryRoot + "/Sources/MBVIPC/Makefile", F_OK) == 0
private let haveDissector = access(repositoryRoot + "/docs/wireshark/ipcscope.lua", F_OK) == 0
private let prefix = "/usr/local"

/// Quotes a word for /bin/sh.
private func sh(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// A temporary DESTDIR and the commands run against it; `finish()` removes it all.
private final class Staging {
    let scope = TestScope()
    let destdir: String
    /// The make variables every call shares: the release build when it is already current
    /// (never built here), else the configuration these tests were built in.
    let makeVariables: String

    init() {
        destdir = scope.directory + "/destdir"
        mkdir(destdir, 0o755)
        let common = "-C \(sh(repositoryRoot)) SCRATCH=\(sh(scratchPath)) SWIFT_FLAGS=--ignore-lock"
        let releaseCurrent = scope.run("/bin/sh", ["-c", "make -q \(common) CONFIG=release "
            + "\(sh(scratchPath))/release/ipcscope \(sh(scratchPath))/dist/man/ipcscope.1"], timeout: 20)
        let config = releaseCurrent.exitStatus == 0 ? "release" : buildConfiguration
        makeVariables = "\(common) CONFIG=\(config) DESTDIR=\(sh(destdir)) PREFIX=\(prefix)"
    }

    /// Runs a shell command line; returns the finished process.
    @discardableResult
    func shell(_ command: String, timeout: Double = 30, environment: [String: String] = [:]) -> ChildProcess {
        scope.run("/bin/sh", ["-c", command], timeout: timeout, environment: environment)
    }

    func make(_ target: String) -> ChildProcess { shell("make \(target) \(makeVariables)", timeout: 120) }

    /// A path inside the installed tree.
    func installed(_ path: String) -> String { destdir + prefix + "/" + path }

    /// Every file, link and folder left under DESTDIR.
    func leftovers() -> [String] {
        let found = shell("cd \(sh(destdir)) && find . -mindepth 1 | sort")
        return found.stdout.split(separator: "\n").map(String.init)
    }

    /// Ends the scope, which removes its folder (DESTDIR with it).
    func finish() { scope.cleanup() }
}

@Suite("Install", .serialized)
struct InstallTests {
    @Test("make install: the binary, its manual and completions work from DESTDIR; uninstall removes them")
    func installRunUninstall() throws {
        let stage = Staging()
        defer { stage.finish() }
        let install = stage.make("install")
        try #require(install.exitStatus == 0, "make install failed:\n\(install.stdout)\(install.stderr)")

        // --version: the release and the section format it speaks; the release is CHANGELOG.md's newest.
        let binary = stage.installed("bin/ipcscope")
        let version = stage.shell(sh(binary) + " --version")
        let changelog = try String(contentsOfFile: repositoryRoot + "/CHANGELOG.md", encoding: .utf8)
        let newest = changelog.split(separator: "\n").first { $0.hasPrefix("## [") && !$0.contains("Unreleased") }
        let release = newest.flatMap { $0.split(separator: "[").dropFirst().first?.split(separator: "]").first }
        let releaseText = try #require(release.map(String.init), "CHANGELOG.md has no '## [x.y.z]' release")
        #expect(version.stdout == "ipcscope \(releaseText) (section format \(IPCSCOPE_VERSION))\n",
                "ipcscope --version said: \(version.stdout)\(version.stderr)")

        // The installed binary serves and calls (the README's tour).
        let name = stage.scope.serviceName("install")
        let server = stage.scope.spawn(binary, ["serve", name, "--echo"])
        #expect(server.waitForOutput("serving", timeout: 10), "\(server.stderr)")
        let call = stage.shell("\(sh(binary)) call \(name) --function 1 --text hello --json")
        #expect(call.exitStatus == 0 && call.stdout.contains("\"status\":0"), "\(call.stdout)\(call.stderr)")
        // The static agent beside ipcscope (what --push-agent copies to a host): it needs no
        // library, and ipcscope reads the section through it.
        let agent = stage.installed("bin/mbvipc-agent")
        let agentVersion = stage.shell(sh(agent) + " --version")
        #expect(agentVersion.exitStatus == 0 && agentVersion.stdout.contains("protocol "), "\(agentVersion.stdout)\(agentVersion.stderr)")
        #expect(stage.shell("ldd \(sh(agent)) 2>&1").stdout.contains("not a dynamic executable"))
        let through = stage.shell("\(sh(binary)) status \(name) --json --via \(sh(agent))")
        #expect(through.exitStatus == 0 && through.stdout.contains("\"alive\":true"), "\(through.stdout)\(through.stderr)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 10) == 0)

        // Each page renders without a warning, and man finds it by name in the installed tree.
        let manDir = stage.installed("share/man")
        for (page, section) in [("ipcscope", "1"), ("ipcscope-section", "5"), ("mbvipc-agent", "1")] {
            let path = "\(manDir)/man\(section)/\(page).\(section)"
            let render = stage.shell("MANWIDTH=80 man -l --warnings \(sh(path))")
            #expect(render.exitStatus == 0 && render.stderr.isEmpty, "man \(page): \(render.stderr)")
            #expect(render.stdout.contains("NAME") && render.stdout.contains("SEE ALSO"), "\(page): \(render.stdout)")
            let lookup = stage.shell("man -M \(sh(manDir)) -w \(section) \(page)")
            #expect(lookup.stdout == path + "\n", "man -w \(page): \(lookup.stdout)\(lookup.stderr)")
        }
        // ipcscope.1 is made from the CLI's own help: every verb's summary is in it, word for word.
        let rendered = stage.shell("MANWIDTH=1000 man -l \(sh(manDir + "/man1/ipcscope.1"))").stdout
        let manual = rendered.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let dump = stage.shell(sh(binary) + " --experimental-dump-help").stdout
        let tool = try #require(jsonObject(dump)?["command"] as? [String: Any], "no --experimental-dump-help")
        let verbs = (tool["subcommands"] as? [[String: Any]] ?? []).filter { $0["shouldDisplay"] as? Bool != false }
        #expect(verbs.count >= 8, "no verbs in --experimental-dump-help: \(dump)")
        for verb in verbs {
            let summary = (verb["abstract"] as? String ?? "").split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(!summary.isEmpty && manual.contains(summary), "ipcscope(1) lacks \(verb["commandName"] ?? "?"): \(summary)")
        }

        // Bash finds the completion and completes a verb and a flag with it.
        let bash = stage.installed("share/bash-completion/completions/ipcscope")
        let complete = stage.shell("""
            bash -c 'source \(bash); complete -p ipcscope
            COMP_WORDS=(ipcscope se); COMP_CWORD=1; _ipcscope ipcscope se ipcscope; echo "verb: ${COMPREPLY[*]}"
            COMPREPLY=(); COMP_WORDS=(ipcscope call --f); COMP_CWORD=2; _ipcscope ipcscope --f call; echo "flag: ${COMPREPLY[*]}"'
            """, environment: ["PATH": stage.installed("bin") + ":/usr/bin:/bin"])
        #expect(complete.stdout.contains("-F _ipcscope ipcscope"), "complete -p: \(complete.stdout)\(complete.stderr)")
        #expect(complete.stdout.contains("verb: serve"), "\(complete.stdout)")
        let flags = complete.stdout.split(separator: "\n").first { $0.hasPrefix("flag: ") }?.split(separator: " ").map(String.init) ?? []
        #expect(flags.contains("--function") && flags.contains("--file") && !flags.contains("--text"), "\(complete.stdout)")
        for path in ["share/zsh/site-functions/_ipcscope", "share/fish/vendor_completions.d/ipcscope.fish"] {
            let script = readFile(stage.installed(path))
            #expect(script.contains("ipcscope") && script.contains("serve"), "\(path) is not ipcscope's completion")
        }
        // Where zsh and fish are installed, they load the scripts from those folders too.
        let shells = ["PATH": stage.installed("bin") + ":/usr/bin:/bin"]
        if stage.shell("command -v zsh").exitStatus == 0 {
            let zsh = stage.shell("zsh -f -c 'fpath=(\(stage.installed("share/zsh/site-functions")) $fpath); "
                + "autoload -Uz compinit; compinit -u -d \(stage.scope.directory)/zcompdump; print ${_comps[ipcscope]}'",
                environment: shells)
            #expect(zsh.stdout == "_ipcscope\n", "zsh: \(zsh.stdout)\(zsh.stderr)")
        }
        if stage.shell("command -v fish").exitStatus == 0 {
            let fish = stage.shell("fish --no-config -c 'source \(stage.installed("share/fish/vendor_completions.d/ipcscope.fish")); "
                + "complete -C \"ipcscope se\"'", environment: shells.merging(["HOME": stage.scope.directory]) { $1 })
            #expect(fish.stdout.hasPrefix("serve\t"), "fish: \(fish.stdout)\(fish.stderr)")
        }

        // The Wireshark dissector goes where Wireshark reads Lua plugins.
        if haveDissector {
            let folders = stage.shell("tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:[[:space:]]*//p'")
            var folder = folders.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if folder.isEmpty {  // no Wireshark here: the Makefile's own choice, under PREFIX
                let multiarch = stage.shell("cc -print-multiarch").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                folder = prefix + "/lib/\(multiarch)/wireshark/plugins"
            }
            let expected = stage.destdir + folder
            #expect(access(expected + "/ipcscope.lua", R_OK) == 0, "no ipcscope.lua in \(expected): \(stage.leftovers())")
        }

        // The exporter's systemd unit, its ExecStart pointed at the installed binary.
        let unit = readFile(stage.installed("lib/systemd/system/ipcscope-exporter.service"))
        #expect(unit.contains("\nExecStart=\(prefix)/bin/ipcscope exporter "), "unit: \(unit)")

        let uninstall = stage.make("uninstall")
        #expect(uninstall.exitStatus == 0, "make uninstall failed:\n\(uninstall.stdout)\(uninstall.stderr)")
        #expect(stage.leftovers() == [], "left behind in DESTDIR")
    }

    @Test("make install: a C program builds with only pkg-config from the installed mbvipc.pc, and runs",
          .enabled(if: haveCLibrary, "Sources/MBVIPC (the C library) is not in this tree"))
    func cLibraryFromPkgConfig() throws {
        let stage = Staging()
        defer { stage.finish() }
        let install = stage.make("install")
        try #require(install.exitStatus == 0, "make install failed:\n\(install.stdout)\(install.stderr)")
        for file in ["lib/libmbvipc.a", "lib/libmbvipc.so", "lib/pkgconfig/mbvipc.pc"]
            + ["ipc_server.h", "ipc_client.h", "mbv_ipc.h", "ipc_types.h", "ipcscope_section.h"].map({ "include/mbvipc/" + $0 }) {
            #expect(access(stage.installed(file), R_OK) == 0, "\(file) not installed")
        }

        // mbv_ipc(3) renders cleanly, and `man MBV_IPCCall` leads to it.
        let manDir = stage.installed("share/man")
        let page = stage.shell("MANWIDTH=80 man -l --warnings \(sh(manDir + "/man3/mbv_ipc.3"))")
        #expect(page.exitStatus == 0 && page.stderr.isEmpty, "mbv_ipc(3): \(page.stderr)")
        let byFunction = stage.shell("MANWIDTH=80 man --warnings -M \(sh(manDir)) 3 MBV_IPCCall")
        #expect(byFunction.stderr.isEmpty && byFunction.stdout.contains("MBV_IPCCallTimeout"), "\(byFunction.stderr)")

        // The manual's example, built with nothing but the installed .pc file (PKG_CONFIG_SYSROOT_DIR
        // maps its /usr/local paths into DESTDIR), calls the installed ipcscope serving as echo.
        let rendered = stage.shell("MANWIDTH=200 man -l \(sh(manDir + "/man3/mbv_ipc.3"))").stdout
        let example = rendered.components(separatedBy: "EXAMPLES").last?.components(separatedBy: "Build it with").first
            ?? ""
        let name = stage.scope.serviceName("install-c")
        let code = example.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { !$0.contains("#include") }.joined(separator: "\n")
            .replacingOccurrences(of: "\"MyService\"", with: "\"\(name)\"")
        #expect(code.contains("MBV_IPCCall(") && code.contains(name), "no example in mbv_ipc(3):\n\(example)")
        let source = stage.scope.file("example.c", code)
        let program = stage.scope.directory + "/example"
        let pkgConfig = ["PKG_CONFIG_SYSROOT_DIR": stage.destdir, "PKG_CONFIG_LIBDIR": stage.installed("lib/pkgconfig")]
        let build = stage.shell("cc -std=c99 -Wall -Wextra -Werror -o \(sh(program)) \(sh(source)) "
            + "$(pkg-config --cflags --libs mbvipc)", environment: pkgConfig)
        #expect(build.exitStatus == 0, "cc with pkg-config failed:\n\(build.stderr)\n\(code)")

        let server = stage.scope.spawn(stage.installed("bin/ipcscope"), ["serve", name, "--echo"])
        #expect(server.waitForOutput("serving", timeout: 10), "\(server.stderr)")
        let run = stage.shell(sh(program), environment: ["LD_LIBRARY_PATH": stage.installed("lib")])
        #expect(run.exitStatus == 0 && run.stdout == "status 0: hello\n", "\(run.stdout)\(run.stderr)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 10) == 0)

        let uninstall = stage.make("uninstall")
        #expect(uninstall.exitStatus == 0, "make uninstall failed:\n\(uninstall.stdout)\(uninstall.stderr)")
        #expect(stage.leftovers() == [], "left behind in DESTDIR")
    }
}
