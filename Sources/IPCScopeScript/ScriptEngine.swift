import Synchronization

/// A call as a script sees it.
package struct ScriptRequest: Sendable {
    /// Function index chosen by the client.
    package var function: UInt32
    /// The request bytes.
    package var payload: [UInt8]
    /// Sequence number of the call.
    package var seq: UInt64
    /// Calling process and thread.
    package var clientPID: Int32
    package var clientTID: Int32

    package init(function: UInt32, payload: [UInt8], seq: UInt64 = 0, clientPID: Int32 = 0, clientTID: Int32 = 0) {
        self.function = function
        self.payload = payload
        self.seq = seq
        self.clientPID = clientPID
        self.clientTID = clientTID
    }

    /// The payload as text (invalid UTF-8 becomes U+FFFD).
    package var text: String { String(decoding: payload, as: UTF8.self) }
}

/// What the server should do with a call.
package enum ScriptAction: Sendable, Equatable {
    /// Answer `status` with `data`, after `delayMS`.
    case reply(status: Int32, data: [UInt8], delayMS: Int)
    /// Never answer: block until the server stops (after `delayMS`, for symmetry).
    case neverAnswer(delayMS: Int)
    /// Exit the server process with `code` while the call is PROCESSING (after `delayMS`).
    case exit(code: Int32, delayMS: Int)

    /// The delay before the action.
    package var delayMS: Int {
        switch self {
        case .reply(_, _, let d), .neverAnswer(let d), .exit(_, let d): d
        }
    }

    /// A short name for logs: `reply`, `never_answer`, `exit`.
    package var name: String {
        switch self {
        case .reply: "reply"
        case .neverAnswer: "never_answer"
        case .exit: "exit"
        }
    }
}

/// The engine's answer: the action, and which rule chose it (nil: no rule matched, status -3).
package struct ScriptDecision: Sendable, Equatable {
    package var action: ScriptAction
    /// 1-based rule index, or nil when no rule matched.
    package var rule: Int?
    /// The rule's line in the script (0 when no rule matched).
    package var line: Int
    /// Set when the rule could not be decided: its regex ran out of steps on this payload.
    /// The call is then answered status -2 (handler failed) and `rule` names the culprit.
    package var gaveUp: String?

    package init(action: ScriptAction, rule: Int?, line: Int, gaveUp: String? = nil) {
        self.action = action
        self.rule = rule
        self.line = line
        self.gaveUp = gaveUp
    }
}

/// Applies a script to calls: first matching rule wins; cycles advance per rule.
///
/// Thread-safe (the cycle counters sit behind a mutex), so one engine can serve a
/// server with several threads or be shared with an inspector.
package final class ScriptEngine: Sendable {
    /// The script being applied.
    package let script: Script
    private let counters: Mutex<[Int]>

    /// The status for a call no rule matches (-3, "no handler for this function").
    package static let noMatchStatus: Int32 = -3
    /// The status for a call whose rule's regex ran out of steps (-2, "handler failed").
    package static let regexGaveUpStatus: Int32 = -2

    package init(_ script: Script) {
        self.script = script
        counters = Mutex([Int](repeating: 0, count: script.rules.count))
    }

    /// Chooses the action for `request`. Never blocks (delays are the caller's to perform).
    package func respond(to request: ScriptRequest) -> ScriptDecision {
        var scalars: [UInt32]?
        for rule in script.rules {
            switch Self.matches(rule.match, request, &scalars) {
            case .noMatch: continue
            case .gaveUp(let steps):
                let why = "the regex of rule \(rule.index) (line \(rule.line)) gave up after \(steps) steps "
                    + "on a \(request.payload.count)-byte payload: answered -2; simplify the pattern or match on size first"
                return ScriptDecision(action: .reply(status: Self.regexGaveUpStatus, data: [], delayMS: 0),
                                      rule: rule.index, line: rule.line, gaveUp: why)
            case .match: break
            }
            let n = counters.withLock { c -> Int in
                let n = c[rule.index - 1]
                c[rule.index - 1] = n < Int.max - 1 ? n + 1 : 0  // a cycle restarts rather than overflow
                return n
            }
            let answer: Script.Answer
            switch rule.behaviour {
            case .answer(let a): answer = a
            case .cycle(let list): answer = list[n % list.count]
            }
            return ScriptDecision(action: Self.perform(answer, request, count: n + 1), rule: rule.index, line: rule.line)
        }
        return ScriptDecision(action: .reply(status: Self.noMatchStatus, data: [], delayMS: 0), rule: nil, line: 0)
    }

    /// How many calls each rule has answered so far (index 0 is rule 1).
    package var ruleCounts: [Int] { counters.withLock { $0 } }

    // MARK: - matching

    static func matches(_ m: Script.Match, _ r: ScriptRequest, _ scalars: inout [UInt32]?) -> ScriptRegex.Outcome {
        if let f = m.functions, !f.contains(r.function) { return .noMatch }
        let p = r.payload
        if let s = m.size, !s.contains(p.count) { return .noMatch }
        if let f = m.fields, let l = m.fieldLayout, (try? l.matches(p, f, what: "the request")) != true { return .noMatch }
        if let e = m.equals, e != p { return .noMatch }
        if let pre = m.prefix, !p.starts(with: pre) { return .noMatch }
        if let c = m.contains, !contains(p, c) { return .noMatch }
        if let re = m.regex {
            if scalars == nil { scalars = Array(r.text.unicodeScalars.map(\.value)) }
            return re.search(scalars: scalars!, stepBudget: ScriptRegex.defaultStepBudget)
        }
        return .match
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        if needle.isEmpty { return true }
        guard haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    // MARK: - answering

    static func perform(_ a: Script.Answer, _ r: ScriptRequest, count: Int) -> ScriptAction {
        switch a.kind {
        case .neverAnswer: return .neverAnswer(delayMS: a.delayMS)
        case .exit(let code): return .exit(code: code, delayMS: a.delayMS)
        case .reply(let status, let data):
            let bytes: [UInt8]
            switch data {
            case .bytes(let b): bytes = b
            case .echo: bytes = r.payload
            case .template(let parts):
                var out: [UInt8] = []
                for part in parts {
                    switch part {
                    case .literal(let s): out += Array(s.utf8)
                    case .field(let name): out += Array(field(name, r, count: count).utf8)
                    }
                }
                bytes = out
            }
            return .reply(status: status, data: bytes, delayMS: a.delayMS)
        }
    }

    /// The value of a template placeholder.
    static func field(_ name: String, _ r: ScriptRequest, count: Int) -> String {
        switch name {
        case "function": return String(r.function)
        case "size": return String(r.payload.count)
        case "text": return r.text
        case "hex": return r.payload.map { b in String(b >> 4, radix: 16) + String(b & 15, radix: 16) }.joined()
        case "seq": return String(r.seq)
        case "pid": return String(r.clientPID)
        case "tid": return String(r.clientTID)
        case "count": return String(count)
        default: return ""
        }
    }
}
