// The section protocol's Promela model (spec/section.pml), checked exhaustively by SPIN through
// spec/check.sh: the model as the code is satisfies every property, and each mutant breaks the
// property it should (with a trail that replays), among them the code as it was before each fix
// of the model's findings. See spec/README.md.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// One run of spec/check.sh, shared by the suite's tests (30 s to 2 minutes, with the machine's load).
enum ProtocolModel {
    static let spin: String? = ["/usr/bin/spin", "/usr/local/bin/spin"].first { (path: String) in access(path, X_OK) == 0 }
    static let onCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Runs without spin only on CI, where its absence is a failure, not a skip.
    static let enabled = spin != nil || onCI

    static let repoRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/IPCScopeTests/ProtocolModelTests.swift
        return parts.joined(separator: "/")
    }()

    struct Run {
        let exitStatus: Int32?
        let output: String
        /// Check name -> "holds" or "violated", from check.sh's table.
        let results: [String: String]
    }

    /// check.sh, once, bounded by 300 s: then SIGTERM (check.sh stops its searches and removes its
    /// folder), and SIGKILL 10 s later.
    static let run: Run = {
        let scope = TestScope()
        defer { scope.cleanup() }
        let child = scope.spawn("/bin/bash", [repoRoot + "/spec/check.sh"])
        if child.wait(timeout: 300) == nil {
            child.signal(SIGTERM)
            if child.wait(timeout: 10) == nil { child.killAndReap() }
        }
        let out = child.stdout + child.stderr
        // expect result states depth MB seconds name[  <-- SURPRISE: why]
        let row = /^(pass|mutant|finding) +(\S+) +\S+ +\S+ +\S+ +\S+  (.*?)(  <-- .*)?$/
        var results: [String: String] = [:]
        for line in out.split(separator: "\n") {
            if let m = try? row.wholeMatch(in: line) { results[String(m.output.3)] = String(m.output.2) }
        }
        return Run(exitStatus: child.exitStatus, output: out, results: results)
    }()

    /// The run, or a failed requirement saying why.
    static func require() throws -> Run {
        _ = try #require(spin, "CI=true but spin is missing: apt-get install -y spin")
        let r = run
        try #require(!r.results.isEmpty, "check.sh printed no results:\n\(r.output)")
        return r
    }
}

@Suite("Protocol model (SPIN)", .serialized,
       .enabled(if: ProtocolModel.enabled, "spin is not installed (apt-get install -y spin); CI=true runs this suite regardless"))
struct ProtocolModelTests {
    /// `check` must be in the table with `result`.
    func expect(_ r: ProtocolModel.Run, _ check: String, _ result: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.results[check] == result, "\(check): \(r.results[check] ?? "missing")\n\(r.output)", sourceLocation: sourceLocation)
    }

    @Test("check.sh finds no surprise and exits 0", .timeLimit(.minutes(6)))
    func noSurprise() throws {
        let r = try ProtocolModel.require()
        #expect(r.exitStatus == 0, "\(r.output)")
        #expect(r.output.contains(" 0 surprises"), "\(r.output)")
        #expect(!r.output.contains("SURPRISE"), "\(r.output)")
    }

    @Test("the model as the code is satisfies every property, in every scenario", .timeLimit(.minutes(6)))
    func goodModelHolds() throws {
        let r = try ProtocolModel.require()
        let safety = "safety (seq_rule own_answer untorn_request mutex_repaired waiting_exact takeover_clean)"
        for check in ["server_wakes", "client_wakes",
                      "giveups/" + safety, "giveups/deadline_honoured",
                      "client-death/" + safety, "client-death/owner_death_recovered", "client-death/calls_return",
                      "client-death-strict/calls_return",
                      "server-death/" + safety, "server-death/calls_return", "server-death/step3_takeover_answered",
                      "server-death-no-takeover/calls_return", "shutdownNow/clients_return"] {
            expect(r, check, "holds")
        }
    }

    @Test("each mutant breaks the property it should; the seq check alone is redundant", .timeLimit(.minutes(6)))
    func mutantsFail() throws {
        let r = try ProtocolModel.require()
        expect(r, "mutant-a no server re-check: server_wakes", "violated")
        expect(r, "mutant-b no seq check: giveups/seq_rule (holds: the seq check is redundant)", "holds")
        expect(r, "mutant-b+e no seq check, no step 3: giveups/seq_rule", "violated")
        expect(r, "mutant-c takeover keeps state: server-death/takeover_clean", "violated")
        expect(r, "mutant-d no client re-check: client_wakes", "violated")
        expect(r, "mutant-e no step 3: giveups/untorn_request", "violated")
        expect(r, "mutant-e no step 3: giveups/seq_rule (holds: the seq check catches it)", "holds")
        expect(r, "mutant-f no pthread_mutex_consistent: client-death/mutex_repaired", "violated")
    }

    @Test("the code as it was before each fix of a finding breaks the property the fix restored", .timeLimit(.minutes(6)))
    func findingsFixed() throws {
        let r = try ProtocolModel.require()
        expect(r, "mutant-g epoch before IDLE at a takeover: server-death/calls_return", "violated")
        expect(r, "mutant-h step-3 waiter keeps the old epoch: server-death/step3_takeover_answered", "violated")
        expect(r, "mutant-i no wake after recovering a dead owner: client-death-strict/calls_return", "violated")
        expect(r, "mutant-j no client_waiting reset: client-death/waiting_exact", "violated")
        expect(r, "mutant-k plain PROCESSING store: shutdownNow/clients_return", "violated")
        expect(r, "mutant-l no hand-back after shutdownNow: shutdownNow/clients_return", "violated")
        #expect(!r.output.contains("\nfinding "), "no finding is open:\n\(r.output)")
    }
}
