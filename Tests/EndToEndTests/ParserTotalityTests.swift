// The parsers a person or a file feeds are total: seeded random and mutated inputs give a
// value or an error, never a trap and never a hang. (Bounded here; the project's fuzzer runs
// the long version.)
import Foundation
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeRandom
import IPCScopeScript
import Testing
import TestSupport

@Suite("Parser totality")
struct ParserTotalityTests {
    static let alphabet = Array("0123456789abcdefxXAF :|*\n\r\t-+.,/\\=<>!()[]{}?^$&#@~\"'lnsµuµe") + ["\u{0}", "é", "\u{FFFD}"]
    static let seeds: [String] = [
        "00000000  41 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |A...............|\n00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\n00000040  00 42  |.B|\n00000042\n",
        "00000000: 4100 0000 0000 0000 0000 0000 0000 0000  A...............\n00000010: 0000 0000 0000 0000 0000 0000 0000 0000  ................\n*\n00000040: 0042  .B\n",
        "fn=3 status!=0 lat>1.5ms /a\\x00/ hex=4865 size>=10 pid<=9 word",
        "^(a+)+$|[^\\d\\s]{2,5}(?:x|y)*?\\u{e9}.$",
        "rules:\n  - match: {function: [1, 2], regex: \"^a+$\", size: \"2..\"}\n    reply: {status: -1, template: \"{text}{{\"}\n"
            + "  - match: any\n    cycle: [{text: &a x}, {fault: never_answer}, {hex: \"00 ff\", delay_ms: 1}, {text: *a}]\n",
    ]

    /// `count` inputs: random strings, and seeds with characters replaced, inserted, deleted.
    static func inputs(_ count: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)  // a failing case replays from its seed
        var out: [String] = []
        for k in 0..<count {
            if k % 3 == 0 {
                let n = Int.random(in: 0...60, using: &rng)
                out.append(String((0..<n).map { _ in alphabet.randomElement(using: &rng)! }))
            } else {
                var s = Array(seeds.randomElement(using: &rng)!)
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !s.isEmpty {
                    let i = Int.random(in: 0..<s.count, using: &rng)
                    switch Int.random(in: 0...2, using: &rng) {
                    case 0: s[i] = alphabet.randomElement(using: &rng)!
                    case 1: s.insert(alphabet.randomElement(using: &rng)!, at: i)
                    default: s.remove(at: i)
                    }
                }
                out.append(String(s))
            }
        }
        return out
    }

    @Test("every seed is valid, so mutations start from inputs that reach deep paths")
    func seedsAreValid() throws {
        #expect(try parseHex(Self.seeds[0]) == [0x41] + [UInt8](repeating: 0, count: 64) + [0x42])
        #expect(try parseHex(Self.seeds[1]) == [0x41] + [UInt8](repeating: 0, count: 64) + [0x42])
        #expect(try parseCallTerms(Self.seeds[2]).count == 8)
        _ = try ScriptRegex(Self.seeds[3])
        #expect(try Script.parse(yaml: Self.seeds[4]).rules.count == 2)
    }

    @Test("hex, escapes, filter and breakpoint terms, regexes and scripts never trap")
    func total() {
        var accepted = [0, 0, 0, 0, 0]
        // IPCSCOPE_PARSER_CASES=N and IPCSCOPE_PARSER_SEED=S run a longer or different pass.
        let env = ProcessInfo.processInfo.environment
        let count = env["IPCSCOPE_PARSER_CASES"].flatMap { Int($0) } ?? 1500
        let seed = env["IPCSCOPE_PARSER_SEED"].flatMap { UInt64($0) } ?? 0x1905
        for input in Self.inputs(count, seed: seed) {
            if (try? parseHex(input)) != nil { accepted[0] += 1 }
            _ = try? unescape(input)
            if (try? HistoryFilter(parsing: input)) != nil { accepted[1] += 1 }
            _ = HistoryFilter(input).matches(TraceFixture.record(fn: 1, size: 3, latency: 5, head: "abc"))
            let bp = Breakpoints(input)
            _ = bp.match(function: 3, payload: Array(input.utf8))
            if let re = try? ScriptRegex(input) {
                accepted[2] += 1
                _ = re.search(input, stepBudget: 100_000)
            }
            if let script = try? Script.parse(yaml: input) {
                accepted[3] += 1
                _ = ScriptEngine(script).respond(to: ScriptRequest(function: 1, payload: Array(input.utf8)))
            }
            accepted[4] += 1
        }
        // Mutations keep many inputs valid, so the parsers' deeper paths run too.
        #expect(accepted[0] * 40 > count && accepted[1] * 15 > count && accepted[2] * 15 > count && accepted[3] > 0, "accepted: \(accepted)")
    }
}
