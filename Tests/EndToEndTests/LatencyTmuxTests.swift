// The latency pane (`%`) of `ipcscope attach` in a real terminal (tmux) at 80x24 and 120x40,
// on a real echo server answering real calls; its figures against `status --json` of the same
// trace ring. Every wait has a deadline.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeInspector
import Testing
import TestSupport

@Suite(.serialized) struct LatencyTmuxTests {
    @Test func latencyPaneOnARealServerAtBothSizes() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("latt")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)", width: 80, height: 24)
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]", "% latency")
        #expect(ok, "the key is in the hints at 80x24:\n\(screen)")
        for (fn, n) in [(1, 20), (2, 5)] {
            #expect(scope.ipcscope(["call", name, "-f", String(fn), "--text", "hi", "--repeat", String(n), "--quiet"]).exitStatus == 0)
        }
        tmux.type("%")
        (ok, screen) = tmux.waitFor("─ Latency  25 calls since attach", "─ Histogram: all calls", "now")
        #expect(ok, "the pane at 80x24:\n\(screen)")
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count >= 24 && lines.prefix(24).allSatisfy { $0.unicodeScalars.count <= 80 })
        // The figures are those of the same calls as `status` sums them up from the ring.
        let status = jsonObject(scope.ipcscope(["status", name, "--json"]).stdout)
        let all = try #require((status?["latency"] as? [String: Any])?["all"] as? [String: Any])
        let fns = try #require((status?["latency"] as? [String: Any])?["functions"] as? [[String: Any]])
        func cells(_ s: [String: Any]) -> String {
            ["p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "max_ns"].map { k in
                let t = formatDuration(UInt64(int(s[k]) ?? 0))
                return String(repeating: " ", count: max(0, 9 - t.count)) + t
            }.joined()
        }
        /// A table row's start: marker, name in 18 columns (24 at 120 wide), calls in 8.
        func row(_ mark: String, _ name: String, _ calls: Int, nameWidth: Int = 18) -> String {
            let c = String(calls)
            return mark + name + String(repeating: " ", count: nameWidth - name.count) + String(repeating: " ", count: 8 - c.count) + c
        }
        #expect(int(all["count"]) == 25)
        #expect(lines.contains { $0.hasPrefix(row("→ ", "all calls", 25)) && $0.hasSuffix(cells(all)) }, "\(screen)\n\(cells(all))")
        #expect(lines.contains { $0.hasPrefix(row("  ", "fn 1", 20)) && $0.hasSuffix(cells(fns[0])) }, "\(screen)")
        #expect(lines.contains { $0.hasPrefix(row("  ", "fn 2", 5)) && $0.hasSuffix(cells(fns[1])) }, "\(screen)")
        // Echo calls queue behind nothing (each client stamps sent_ns once it holds the mutex).
        #expect(lines.contains { $0.hasPrefix(" queued  p50 0ns     p99 0ns     max 0ns") }, "\(screen)")
        // The bars add up to every call.
        let counted = lines.compactMap { l -> Int? in
            guard l.contains(" │█") || l.contains(" │▏") || l.contains(" │▎") || l.contains(" │▍") || l.contains(" │▌") else { return nil }
            return l.split(separator: "│").last.flatMap { Int($0.split(separator: " ").last { !$0.hasPrefix("(") && !$0.contains("█") } ?? "") }
        }
        #expect(counted.reduce(0, +) == 25, "\(counted)\n\(screen)")

        // A function picked with the arrows; r starts counting again.
        tmux.keys("Down")
        (ok, screen) = tmux.waitFor("─ Histogram: fn 1 ", "→ fn 1 ")
        #expect(ok, "\(screen)")
        tmux.type("r")
        (ok, screen) = tmux.waitFor("─ Latency  0 calls since r")
        #expect(ok, "\(screen)")
        #expect(scope.ipcscope(["call", name, "-f", "3", "--text", "again", "--repeat", "3", "--quiet"]).exitStatus == 0)
        (ok, screen) = tmux.waitFor("─ Latency  3 calls since r", row("  ", "fn 3", 3))
        #expect(ok, "\(screen)")

        // 120x40: the status column, and a heat line per series.
        tmux.resize(width: 120, height: 40)
        (ok, screen) = tmux.waitFor("status≠0", row("→ ", "all calls", 3, nameWidth: 24), row("  ", "fn 3", 3, nameWidth: 24))
        #expect(ok, "the pane at 120x40 (fn 1 had no calls since r: the selection went back to all):\n\(screen)")
        let wide = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let heat = wide.firstIndex { $0.hasPrefix("─ Calls over time") } ?? 0
        let shaded = { (l: String) in l.contains("░") || l.contains("▒") || l.contains("▓") || l.contains("█") }
        #expect(heat > 0 && wide[heat + 1].hasPrefix(" all calls") && shaded(wide[heat + 1]), "the selected line first, shaded:\n\(screen)")
        #expect(heat > 0 && wide[heat + 2].hasPrefix(" fn 3") && shaded(wide[heat + 2]), "\(screen)")
        #expect(wide.contains { $0.contains("each line against its own p50") }, "\(screen)")
        // Esc goes back to the live screen.
        tmux.keys("Escape")
        (ok, screen) = tmux.waitFor("─ Request ─", "─ History")
        #expect(ok, "\(screen)")
        tmux.type("q")
    }
}
