// Advice that names a flag or a command must name one that exists: every message the tool can
// print is walked (the string literals of the modules `ipcscope` is built from, and the C
// library's), and each `'ipcscope VERB ...'` it tells the user to run, and each `--flag` it tells
// them to pass, is checked against the verbs' own help. And the flag that started this:
// `--trust-world-writable`, which the client's refusal names, works on every verb that calls.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// The verbs of the built `ipcscope` and the long flags each accepts, hidden ones included, as its
/// argument parser describes them (`ipcscope --experimental-dump-help`, the tool-info JSON that
/// swift-argument-parser's own tools read).
struct VerbFlags {
    var flags: [String: Set<String>] = [:]

    init(scope: TestScope) throws {
        let dump = scope.ipcscope(["--experimental-dump-help"])
        let info = try #require(jsonObject(dump.stdout), "ipcscope --experimental-dump-help: \(dump.stderr)")
        func walk(_ command: [String: Any], _ path: [String]) {
            if !path.isEmpty {
                let arguments = command["arguments"] as? [[String: Any]] ?? []
                let names = arguments.flatMap { $0["names"] as? [[String: Any]] ?? [] }
                    .filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String }
                flags[path.joined(separator: " "), default: []].formUnion(names.map { "--" + $0 })
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                if let name = sub["commandName"] as? String { walk(sub, path + [name]) }
            }
        }
        walk(try #require(info["command"] as? [String: Any]), [])
    }

    var verbs: Set<String> { Set(flags.keys) }
    var anyVerb: Set<String> { flags.values.reduce(into: Set<String>()) { $0.formUnion($1) } }
}

/// A string literal of a source file, with where it starts.
struct SourceLiteral {
    let file: String
    let line: Int
    let text: String
    var place: String { "\(file):\(line)" }
}

/// The string literals of the `.swift` and `.c` files under `folders` (relative to the checkout):
/// "..." on one line and """...""" blocks, outside `//` comment lines. An interpolation `\(...)`
/// or a C conversion (`%s`, `%u`, ...) becomes `NAME`.
func sourceLiterals(_ folders: [String]) -> [SourceLiteral] {
    var out: [SourceLiteral] = []
    for folder in folders {
        let root = repositoryRoot + "/" + folder
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".swift") || $0.hasSuffix(".c") }.sorted()
        for name in files {
            let lines = readFile(root + "/" + name).components(separatedBy: "\n")
            var block: (start: Int, text: String)?
            for (i, raw) in lines.enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if var b = block {
                    if line.hasPrefix("\"\"\"") {
                        out.append(SourceLiteral(file: folder + "/" + name, line: b.start, text: placeholders(b.text)))
                        block = nil
                    } else {
                        b.text += line.hasSuffix("\\") ? String(line.dropLast()) : line + "\n"
                        block = b
                    }
                    continue
                }
                if line.hasPrefix("//") || line.hasPrefix("*") || line.hasPrefix("/*") { continue }
                if line.hasSuffix("\"\"\"") && !line.hasPrefix("\"\"\"\"") {
                    block = (i + 1, "")
                    continue
                }
                for m in line.matches(of: /"((?:[^"\\]|\\.)*)"/) {
                    out.append(SourceLiteral(file: folder + "/" + name, line: i + 1, text: placeholders(String(m.output.1))))
                }
            }
        }
    }
    return out
}

/// `\(service)` and `%s`-style conversions as the word NAME.
func placeholders(_ text: String) -> String {
    text.replacing(/\\\([^)]*\)?/, with: "NAME").replacing(/%[0-9]*[sduoUx]/, with: "NAME")
}

@Suite("Advice names flags and commands that exist", .serialized)
struct AdviceFlagsTests {
    /// The modules the `ipcscope` executable is built from: every message it can print is in them.
    static let toolModules = ["Sources/IPCScopeCLI", "Sources/IPCScopeKit", "Sources/IPCScopeObserve", "Sources/IPCScopeRecording",
                              "Sources/IPCScopeInspector", "Sources/IPCScopeSchema", "Sources/IPCScopeScript", "Sources/IPCScopeTUI",
                              "Sources/IPCScopeDemo", "Sources/IPCScopePOSIX"]
    /// Verbs that call a service with the client library: its refusals ("pass --trust-uid N") reach
    /// the user through each of them (attach through its client pane).
    static let callingVerbs = ["call", "bench", "replay", "attach"]

    /// Who acts on "pass --X" in a message: the client library's refusals reach the user through
    /// every verb that calls; the server's (ServerTakeover, "or pass --replace") through serve.
    static func passVerbs(_ file: String) -> [String] {
        file.hasSuffix("IPCScopeKit/Client.swift") || file.hasPrefix("Sources/IPCScopeCLI/") ? callingVerbs : ["serve"]
    }

    @Test("every 'ipcscope VERB --flag' a message or help text tells the user to run: the verb exists and takes the flag")
    func quotedCommands() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let verbs = try VerbFlags(scope: scope)
        try #require(verbs.verbs.isSuperset(of: ["serve", "call", "clean", "watch", "attach"]), "\(verbs.flags.keys)")
        var checked = 0
        var problems: [String] = []
        for lit in sourceLiterals(Self.toolModules + ["Sources/MBVIPC"]) {
            for m in lit.text.matches(of: /'ipcscope ([^']*)'/) {
                let words = m.output.1.split(separator: " ").map(String.init)
                guard let first = words.first else { continue }
                // 'ipcscope call/attach/status/watch NAME' names four verbs at once.
                for verb in first.split(separator: "/").map(String.init) {
                    checked += 1
                    guard let accepted = verbs.flags[verb] else {
                        problems.append("\(lit.place): \(m.output.0) names no verb of ipcscope ('\(verb)')")
                        continue
                    }
                    for flag in words.dropFirst().filter({ $0.hasPrefix("--") }) where !accepted.contains(flag) {
                        problems.append("\(lit.place): \(m.output.0): 'ipcscope \(verb)' has no \(flag)")
                    }
                }
            }
        }
        #expect(checked > 30, "the walk found the quoted commands (\(checked))")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("every --flag a message names exists; 'pass --X' on every verb that calls, 'start its server with --X' on serve")
    func advisedFlags() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let verbs = try VerbFlags(scope: scope)
        let any = verbs.anyVerb
        try #require(any.contains("--echo") && any.contains("--json"))
        var checked = 0
        var problems: [String] = []
        for lit in sourceLiterals(Self.toolModules) {
            // Quoted commands are checked against their own verb above.
            let text = lit.text.replacing(/'(ipcscope|mbvipc-agent) [^']*'/, with: "")
            for m in text.matches(of: /([A-Za-z']+ )?([A-Za-z']+ )?(--[a-z][a-z0-9-]*)/) {
                let flag = String(m.output.3)
                let before = ((m.output.1.map(String.init) ?? "") + (m.output.2.map(String.init) ?? "")).lowercased()
                checked += 1
                let needed: [String]
                if before.hasSuffix("pass ") {
                    needed = Self.passVerbs(lit.file)                    // the client's refusals: every verb that calls
                } else if before.hasSuffix("server with ") || before.hasSuffix("serve ") || before.hasSuffix("larger ") {
                    needed = ["serve"]                                   // "start its server with --trace-capacity 256"
                } else {
                    needed = []                                          // named somewhere: some verb must take it
                }
                if needed.isEmpty {
                    if !any.contains(flag) { problems.append("\(lit.place): \(flag) is a flag of no verb: \"\(lit.text.prefix(160))\"") }
                }
                for verb in needed where !(verbs.flags[verb] ?? []).contains(flag) {
                    problems.append("\(lit.place): '\(before)\(flag)' but 'ipcscope \(verb)' has no \(flag)")
                }
            }
        }
        #expect(checked > 50, "the walk found the flags (\(checked))")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("a world-writable section: call, bench and replay refuse it and name --trust-world-writable; with it they call")
    func trustWorldWritable() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("ww")
        let server = scope.startEchoServer(name, extra: ["--quiet", "--mode", "666", "--allow-world-writable"])
        try #require(server.stdout.contains("serving"), "\(server.stderr)")

        let refused = scope.ipcscope(["call", name, "--text", "x"])
        #expect(refused.exitStatus == 1)
        #expect(refused.stderr.contains("or pass --trust-world-writable"), "\(refused.stderr)")
        let call = scope.ipcscope(["call", name, "--text", "trusted", "--trust-world-writable", "--raw"])
        #expect(call.exitStatus == 0, "\(call.stderr)")
        #expect(call.stdout == "trusted")

        #expect(scope.ipcscope(["bench", name, "--count", "20"]).stderr.contains("--trust-world-writable"))
        for processes in ["1", "2"] {
            let bench = scope.ipcscope(["bench", name, "--count", "200", "--processes", processes, "--trust-world-writable", "--json"], timeout: 60)
            #expect(bench.exitStatus == 0, "bench --processes \(processes): \(bench.stderr)")
            #expect(int(jsonObject(bench.stdout)?["errors"]) == 0 && int(jsonObject(bench.stdout)?["calls"]) == 200, "\(bench.stdout)")
        }

        let jsonl = scope.file("calls.jsonl", #"{"event":"call","seq":1,"function":0,"status":0,"request_size":2,"response_size":2,"request_head_hex":"6869"}"# + "\n")
        let untrusted = scope.ipcscope(["replay", jsonl, "--to", name])
        #expect(untrusted.exitStatus == 1 && untrusted.stderr.contains("--trust-world-writable"), "\(untrusted.stderr)")
        let replay = scope.ipcscope(["replay", jsonl, "--to", name, "--trust-world-writable"])
        #expect(replay.exitStatus == 0, "\(replay.stdout) \(replay.stderr)")
    }

    @Test("attach --trust-world-writable: the client pane's calls use it (without it the pane shows the refusal)")
    func attachPaneTrust() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("wwpane")
        let server = scope.startEchoServer(name, extra: ["--quiet", "--mode", "666", "--allow-world-writable"])
        try #require(server.stdout.contains("serving"), "\(server.stderr)")
        for trusted in [false, true] {
            let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)" + (trusted ? " --trust-world-writable" : ""))
            defer { tmux.kill() }
            var (ok, screen) = tmux.waitFor("[LIVE]", "Client")
            #expect(ok, "attached:\n\(screen)")
            tmux.keys("i")
            tmux.type("2 pane")
            tmux.keys("Enter")
            if trusted {
                (ok, screen) = tmux.waitFor("status 0 4 bytes")
                #expect(ok, "the pane's call is answered:\n\(screen)")
            } else {
                (ok, screen) = tmux.waitFor("fn 2 failed: /dev/shm/ipcscope.", "(mode 0666): anyone could read")
                #expect(ok, "the pane shows the refusal:\n\(screen)")
            }
            tmux.keys("q")
        }
    }
}
