// The hot path's instructions per call, held to a committed budget. Time on this shared host moves
// by 2x from one minute to the next; an instruction count does not: valgrind's callgrind counts
// what one call executes, as SQLite tracks its speed with cachegrind. `ipcscope-bench
// --instructions` counts each side of a 64-byte echo in its own process (the side counted under
// callgrind, the other native) and leaves the waits out; this test compares its figures with
// benchmarks/instruction-budget.json for the build it runs in (debug under `swift test`; `swift
// test -c release` checks the release figures). See docs/performance.md, "Instruction budget".
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// benchmarks/instruction-budget.json.
struct InstructionBudget: Decodable {
    struct Figures: Decodable {
        let client: Double
        let server: Double
        let measuredWith: String
        enum CodingKeys: String, CodingKey { case client, server, measuredWith = "measured_with" }
    }
    let marginPercent: Double
    let calls: Int
    let builds: [String: Figures]
    enum CodingKeys: String, CodingKey { case marginPercent = "margin_percent", calls, builds }

    static var path: String { repositoryRoot + "/benchmarks/instruction-budget.json" }

    /// What `ipcscope-bench --instructions --json` printed.
    struct Measured: Decodable {
        let build: String
        let calls: Int
        let client: Double
        let server: Double
    }

    /// Nil when `figure` is within the margin of `budget`; else what moved and by how much.
    func verdict(side: String, figure: Double, budget: Figures, build: String) -> String? {
        let budgetFigure = side == "client" ? budget.client : budget.server
        let change = (figure - budgetFigure) / budgetFigure * 100
        guard abs(change) > marginPercent else { return nil }
        let moved = String(format: "%@ %.1f instructions per call against a budget of %.1f (%@ build): %+.1f%%",
                           side, figure, budgetFigure, build, change)
        if change > 0 {
            return moved + ", over the +\(Int(marginPercent))% margin. Something on the \(side)'s call path does more work "
                + "than it did; if that is meant, run benchmarks/instruction-budget.sh and update \(Self.path)"
                + " (budget measured with: \(budget.measuredWith))"
        }
        return moved + ", below the -\(Int(marginPercent))% margin: the \(side)'s call got cheaper. Lower its budget in "
            + "\(Self.path) (benchmarks/instruction-budget.sh prints both builds' figures) so that it guards the new figure"
    }
}

@Suite("Instruction budget", .serialized)
struct InstructionBudgetTests {
    var benchPath: String { productPath("ipcscope-bench") }

    static var build: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// Whether `name` is on PATH.
    static func installed(_ name: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .contains { access("\($0)/\(name)", X_OK) == 0 }
    }

    @Test("instructions per call of the client and the server stay within the committed budget")
    func withinBudget() throws {
        try #require(Self.installed("valgrind"), "valgrind is missing: apt-get install valgrind (.ci/run installs it)")
        try #require(Self.installed("objcopy"), "objcopy is missing: apt-get install binutils")
        try #require(access(benchPath, X_OK) == 0, "build the package first: \(benchPath) is missing")
        let data = try #require(FileManager.default.contents(atPath: InstructionBudget.path), "no \(InstructionBudget.path)")
        let budget = try JSONDecoder().decode(InstructionBudget.self, from: data)
        let figures = try #require(budget.builds[Self.build], "\(InstructionBudget.path) has no \(Self.build) figures")

        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(benchPath, ["--instructions", "--calls", String(budget.calls), "--json"], timeout: 600)
        defer { Self.removeObjects(of: run.pid) }
        try #require(run.exitStatus == 0,
                     "ipcscope-bench --instructions: exit \(run.exitStatus.map(String.init) ?? "none") signal \(run.exitSignal.map(String.init) ?? "none"): \(run.stdout) \(run.stderr)")
        let line = try #require(run.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON in: \(run.stdout)")
        let measured = try JSONDecoder().decode(InstructionBudget.Measured.self, from: Data(line.utf8))
        #expect(measured.build == Self.build && measured.calls == budget.calls, "\(line)")
        // A count this small means the functions named in the bench's patterns were not found.
        #expect(measured.client > 100 && measured.server > 100, "\(line)")
        print("instructions per call (\(Self.build)): client \(measured.client) (budget \(figures.client)), "
              + "server \(measured.server) (budget \(figures.server))")
        for (side, figure) in [("client", measured.client), ("server", measured.server)] {
            if let moved = budget.verdict(side: side, figure: figure, budget: figures, build: Self.build) {
                Issue.record(Comment(rawValue: moved))
            }
        }
    }

    @Test("the verdict names the side that moved and by how much, in both directions")
    func verdictText() throws {
        let budget = InstructionBudget(marginPercent: 10, calls: 2000,
                                       builds: ["debug": InstructionBudget.Figures(client: 1000, server: 500, measuredWith: "test")])
        let figures = budget.builds["debug"]!
        #expect(budget.verdict(side: "client", figure: 1099, budget: figures, build: "debug") == nil)
        #expect(budget.verdict(side: "server", figure: 451, budget: figures, build: "debug") == nil)
        let over = try #require(budget.verdict(side: "client", figure: 1150, budget: figures, build: "debug"))
        #expect(over.hasPrefix("client 1150.0 instructions per call against a budget of 1000.0 (debug build): +15.0%, over"), "\(over)")
        let under = try #require(budget.verdict(side: "server", figure: 400, budget: figures, build: "debug"))
        #expect(under.hasPrefix("server 400.0 instructions per call against a budget of 500.0 (debug build): -20.0%, below"), "\(under)")
    }

    /// Unlinks what a bench run that was killed may have left ("ipcscope.bench-<pid>-...").
    static func removeObjects(of pid: pid_t) {
        let prefix = "ipcscope.bench-\(pid)-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [] where name.hasPrefix(prefix) {
            _ = unlink("/dev/shm/" + name)
        }
    }
}

