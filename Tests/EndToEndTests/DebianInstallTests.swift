// The packages installed into a clean Debian root (DebianRootSupport.swift) that has neither Swift
// nor a compiler, and used there as a user would: the tool, its manual and completion, then a C
// program against the installed library (a compiler installed for that step only), then removed.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import Testing
import TestSupport

private let rootUnavailable = debianRootUnavailable()

/// Prints how long each step took, so the test's cost is on the page.
private final class Steps {
    private var done: [(String, Double)] = []
    private let started = now()
    func time<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = now()
        defer { done.append((name, now() - start)) }
        return try body()
    }
    func report() {
        let parts = done.map { "\($0.0) \(String(format: "%.1f", $0.1)) s" }
        print("Debian root: \(parts.joined(separator: ", ")); \(String(format: "%.1f", now() - started)) s in all")
    }
}

/// apt-get, once more after `apt-get update` when the cached lists name packages the mirror has
/// since replaced.
private func aptGet(_ arguments: String) -> String {
    "apt-get -q -y --no-install-recommends \(arguments) || { apt-get -q update && apt-get -q -y --no-install-recommends \(arguments); }"
}

extension DebianPackageTests {
    @Test("In a clean Debian root without Swift or a compiler: install, run, read, complete, build a C client, remove",
          .enabled(if: rootUnavailable == nil, Comment(rawValue: rootUnavailable ?? "")))
    func installInCleanRoot() throws {
        let built = try debianPackagesOfThisRun()
        let scope = TestScope()
        defer { scope.cleanup() }
        let steps = Steps()
        defer { steps.report() }
        try steps.time("cached root") { try ensureDebianRootTarball(scope: scope) }
        let root = try steps.time("unpack") { try DebianRoot(scope: scope) }
        defer { root.close() }

        let bare = root.run("for p in swift swiftc cc gcc c++ clang; do command -v $p; done; "
            + "find / -xdev \\( -name 'libswiftCore*' -o -name 'libFoundation*.so*' -o -name 'libdispatch.so*' \\) -print")
        try #require(bare.stdout.isEmpty, "the root is not bare: \(bare.stdout)")

        // dpkg -i, then apt fetches what Depends names from the mirror.
        try steps.time("install") {
            _ = root.run("mkdir -p /tmp/debs")
            for file in built.files.values { #expect(root.copyIn(file, to: "/tmp/debs/")) }
            let install = root.run("dpkg -i /tmp/debs/*.deb; " + aptGet("install -f"), timeout: 600)
            let status = root.run("dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' ipcscope libmbvipc1 libmbvipc-dev")
            try #require(Set(status.stdout.split(separator: "\n")) == ["ipcscope ii ", "libmbvipc1 ii ", "libmbvipc-dev ii "],
                         "not installed: \(status.stdout)\n\(install.stdout.suffix(3000))\(install.stderr.suffix(3000))")
        }

        // The tool: its version is the package's; the demo, and a server and a call.
        try steps.time("use") {
            let release = String(built.version[..<(built.version.lastIndex(of: "-") ?? built.version.endIndex)])
            let version = root.run("ipcscope --version")
            #expect(version.stdout == "ipcscope \(release) (section format \(IPCSCOPE_VERSION))\n", "\(version.stdout)\(version.stderr)")
            let demo = root.run("ipcscope demo --no-tui", timeout: 90)
            #expect(demo.exitStatus == 0 && demo.stdout.contains("answered") && demo.stdout.contains("removed"),
                    "ipcscope demo --no-tui:\n\(demo.stdout)\(demo.stderr)")
            let name = scope.serviceName("deb")
            let server = root.spawn("/usr/bin/ipcscope", ["serve", name, "--echo"])
            try #require(server.waitForOutput("serving", timeout: 15), "serve: \(server.stdout)\(server.stderr)")
            let call = root.run("ipcscope call \(name) --function 1 --text hello --json")
            let answer = jsonObject(call.stdout)
            #expect(call.exitStatus == 0 && int(answer?["status"]) == 0 && answer?["text"] as? String == "hello",
                    "call: \(call.stdout)\(call.stderr)")
            // The packaged static agent reads the section as a target would.
            let through = root.run("ipcscope status \(name) --json --via /usr/bin/mbvipc-agent")
            #expect(through.exitStatus == 0 && through.stdout.contains("\"alive\":true"), "status --via: \(through.stdout)\(through.stderr)")
            server.signal(SIGTERM)
            #expect(server.wait(timeout: 10) == 0, "serve: \(server.stderr)")
            #expect(root.run("test ! -e /dev/shm/ipcscope.\(name)").exitStatus == 0, "the server left its section")
        }

        // man finds and renders every page by name; bash-completion loads the completion on demand.
        steps.time("man and completion") {
            for (page, needle) in [("ipcscope", "ipcscope serve"), ("ipcscope-section", "request"), ("3 MBV_IPCCall", "MBV_IPCCallTimeout"),
                                 ("mbvipc-agent", "--allow-calls")] {
                let man = root.run("man --warnings \(page)")
                #expect(man.exitStatus == 0 && man.stderr.isEmpty && man.stdout.contains("NAME") && man.stdout.contains(needle),
                        "man \(page): \(man.stderr)\(man.stdout.prefix(400))")
            }
            let help = jsonObject(root.run("ipcscope --experimental-dump-help").stdout)?["command"] as? [String: Any]
            let verbs = ((help?["subcommands"] as? [[String: Any]]) ?? [])
                .filter { $0["shouldDisplay"] as? Bool != false }.compactMap { $0["commandName"] as? String }
            #expect(verbs.count >= 8, "no verbs in --experimental-dump-help")
            let complete = root.run("""
                bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader ipcscope; complete -p ipcscope
                COMP_WORDS=(ipcscope ""); COMP_CWORD=1; COMP_LINE="ipcscope "; COMP_POINT=9
                _ipcscope ipcscope "" ipcscope; echo "verbs: ${COMPREPLY[*]}"'
                """)
            #expect(complete.stdout.contains("-F _ipcscope ipcscope"), "complete -p: \(complete.stdout)\(complete.stderr)")
            let offered = Set(complete.stdout.split(separator: "\n").first { $0.hasPrefix("verbs: ") }?
                .dropFirst(7).split(separator: " ").map(String.init) ?? [])
            #expect(!verbs.isEmpty && Set(verbs).isSubset(of: offered), "bash offers \(offered.sorted()), the verbs are \(verbs)")
        }

        // A C program from mbv_ipc(3)'s example, built with only the installed mbvipc.pc, calls
        // `ipcscope serve`; the compiler goes again afterwards.
        try steps.time("C client") {
            let compiler = root.run(aptGet("install gcc libc6-dev pkg-config"), timeout: 900)
            try #require(root.run("command -v cc && command -v pkg-config").exitStatus == 0,
                         "cannot install a compiler:\n\(compiler.stdout.suffix(3000))\(compiler.stderr.suffix(3000))")
            defer {
                let purge = root.run(aptGet("purge --autoremove gcc libc6-dev pkg-config"), timeout: 300)
                #expect(root.run("command -v cc || command -v gcc").exitStatus != 0, "the compiler stayed: \(purge.stderr)")
            }
            let name = scope.serviceName("deb-c")
            let page = root.run("MANWIDTH=200 man 3 mbv_ipc").stdout
            let example = page.components(separatedBy: "EXAMPLES").last?.components(separatedBy: "Build it with").first ?? ""
            let code = example.split(separator: "\n", omittingEmptySubsequences: false)
                .drop { !$0.contains("#include") }.joined(separator: "\n")
                .replacingOccurrences(of: "\"MyService\"", with: "\"\(name)\"")
            try #require(code.contains("MBV_IPCCall("), "no example in mbv_ipc(3):\n\(page)")
            let source = scope.file("example.c", code)
            #expect(root.copyIn(source, to: "/tmp/example.c"))
            let build = root.run("cc -std=c99 -Wall -Wextra -Werror -o /tmp/example /tmp/example.c $(pkg-config --cflags --libs mbvipc)"
                + " && ldd /tmp/example")
            let linked = ["/usr/lib", "/lib"].contains { build.stdout.contains("libmbvipc.so.1 => \($0)/\(multiarch)/libmbvipc.so.1 ") }
            #expect(build.exitStatus == 0 && linked,
                    "cc with pkg-config:\n\(build.stdout)\(build.stderr)")
            let server = root.spawn("/usr/bin/ipcscope", ["serve", name, "--echo"])
            try #require(server.waitForOutput("serving", timeout: 15), "serve: \(server.stdout)\(server.stderr)")
            let run = root.run("/tmp/example")
            #expect(run.exitStatus == 0 && run.stdout == "status 0: hello\n", "\(run.stdout)\(run.stderr)")
            server.signal(SIGTERM)
            #expect(server.wait(timeout: 10) == 0)
            _ = root.run("rm -f /tmp/example /tmp/example.c")
        }

        // dpkg -r: every file dpkg listed is gone; a folder stays only when another package owns it.
        try steps.time("remove") {
            let listed = root.run("dpkg -L ipcscope libmbvipc1 libmbvipc-dev | sort -u").stdout
            try #require(listed.contains("/usr/bin/ipcscope\n"), "dpkg -L: \(listed)")
            let remove = root.run("dpkg -r libmbvipc-dev libmbvipc1 ipcscope", timeout: 120)
            #expect(remove.exitStatus == 0, "dpkg -r: \(remove.stdout)\(remove.stderr)")
            let listPath = scope.file("listed", listed)
            #expect(root.copyIn(listPath, to: "/tmp/listed"))
            let left = root.run("""
                while read -r p; do
                    [ "$p" = /. ] && continue
                    if [ -L "$p" ] || [ -e "$p" ]; then
                        if [ -d "$p" ] && [ ! -L "$p" ] && dpkg -S "$p" >/dev/null 2>&1; then continue; fi
                        echo "left: $p"
                    fi
                done < /tmp/listed
                ldconfig -p | grep mbvipc || true
                """)
            #expect(left.stdout.isEmpty, "dpkg -r left behind:\n\(left.stdout)\(left.stderr)")
        }
    }
}
