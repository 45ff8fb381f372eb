// The torture driver in its short mode: a real echo server and real client processes under
// SIGKILL, SIGSTOP, takeovers and mutex holders killed mid-hold, every answer checked.
//
// Long mode: `.build/debug/ipcscope-torture --seconds 600 --clients 6 --seed N`, or set
// IPCSCOPE_TORTURE_SECONDS for this suite.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("Torture", .serialized)
struct TortureTests {
    /// The figure `name` from the driver's output (one `name value` a line).
    private func figure(_ out: String, _ name: String) -> Int? {
        out.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            .flatMap { Int($0.dropFirst(name.count + 1).prefix { $0.isNumber }) }
    }

    @Test("chaos on a live service: no wrong or late answer, no crash, it recovers, nothing left behind")
    func shortRun() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let env = ProcessInfo.processInfo.environment
        let seconds = env["IPCSCOPE_TORTURE_SECONDS"] ?? "8"
        let seed = env["IPCSCOPE_TORTURE_SEED"] ?? String(UInt32.random(in: 1...UInt32.max))
        let run = scope.run(productPath("ipcscope-torture"), ["--seconds", seconds, "--clients", "3", "--seed", seed],
                            timeout: (Double(seconds) ?? 8) + 120)
        let out = run.stdout
        #expect(run.exitStatus == 0, "seed \(seed):\n\(out)\n\(run.stderr.suffix(2000))")
        #expect(out.contains("result PASS"))
        for zero in ["wrong_answers", "late_answers", "cli_wrong", "crashes", "leftovers"] {
            #expect(figure(out, zero) == 0, "\(zero) (seed \(seed))")
        }
        #expect(out.contains("recovered yes"))
        // the run did what it claims: calls got through, and there was chaos
        #expect((figure(out, "calls_ok") ?? 0) > 100, "\(out)")
        #expect((figure(out, "event_client_sigkill") ?? 0) > 0, "\(out)")
        #expect((figure(out, "event_server_sigkill") ?? 0) + (figure(out, "event_server_sigstop") ?? 0) > 0, "\(out)")
        #expect((figure(out, "event_server_start") ?? 0) > 1, "a server was restarted (took over): \(out)")
    }
}
