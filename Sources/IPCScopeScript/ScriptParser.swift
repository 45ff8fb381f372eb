import IPCScopeKit
import IPCScopeSchema
import Yams
import IPCScopePOSIX

/// Turns YAML (through Yams' node API, which keeps line/column marks) into a `Script`,
/// refusing anything unexpected with the node's position and what was expected there.
struct ScriptParser: YAMLSourceParser {
    typealias Failure = ScriptError
    let source: String
    let baseDirectory: String
    /// Names functions and lays out `fields:` (from `--schema`, or the script's `schema:` key).
    var schema: Schema?

    init(source: String, baseDirectory: String, schema: Schema? = nil) {
        self.source = source
        self.baseDirectory = baseDirectory
        self.schema = schema
    }

    static let ruleKeys = ["match", "reply", "fault", "cycle", "delay_ms", "exit_code", "name"]
    static let matchKeys = ["function", "text", "hex", "prefix", "contains", "regex", "size", "fields"]
    static let answerKeys = ["status", "text", "hex", "file", "echo", "template", "fields", "delay_ms", "fault", "exit_code"]

    // MARK: - entry

    mutating func parse(_ yaml: String) throws(ScriptError) -> Script {
        let size = yaml.utf8.count
        guard size <= Script.maxScriptBytes else {
            throw ScriptError(file: source, line: 0, column: 0,
                              "the script is \(byteCount(size)), over the limit of \(byteCount(Script.maxScriptBytes)): split it or shorten it")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            throw yamlError(e)
        } catch {
            throw ScriptError(file: source, line: 0, column: 0, "cannot parse the YAML: \(error)")
        }
        guard let root else {
            throw ScriptError(file: source, line: 1, column: 1, "expected a mapping with a 'rules:' list, found an empty document")
        }
        try checkExpansion(root)
        let ruleNodes: [Node]
        switch root {
        case .sequence(let seq):
            ruleNodes = Array(seq)
        case .mapping(let map):
            var rules: Node?
            for (k, v) in map {
                let key = k.string ?? ""
                if key == "schema" { schema = try loadSchema(v); continue }
                guard key == "rules" else {
                    throw error(k, "unknown top-level key '\(key)': expected 'rules' or 'schema'")
                }
                rules = v
            }
            guard let rules else { throw error(root, "expected a 'rules:' key holding the list of rules") }
            guard case .sequence(let seq) = rules else {
                throw error(rules, "expected a list of rules under 'rules:' (lines starting with '- '), found \(kind(rules))")
            }
            ruleNodes = Array(seq)
        default:
            throw error(root, "expected a mapping with a 'rules:' list, found \(kind(root))")
        }
        var rules: [Script.Rule] = []
        for (i, node) in ruleNodes.enumerated() {
            rules.append(try rule(node, index: i + 1))
        }
        return Script(rules: rules, source: source)
    }

    /// Walks the tree as the rest of the parser will see it (every alias replaced by its
    /// anchor's content) and refuses it once it holds more than `Script.maxExpandedBytes` of
    /// scalars or `Script.maxExpandedNodes` nodes. The walk stops at the cap, so an alias bomb
    /// costs no more than a script of that size.
    private func checkExpansion(_ root: Node) throws(ScriptError) {
        var bytes = 0, nodes = 0
        var stack = [root]
        while let node = stack.popLast() {
            nodes += 1
            switch node {
            case .scalar(let s): bytes += s.string.utf8.count
            case .mapping(let m): for (k, v) in m { stack.append(v); stack.append(k) }
            case .sequence(let seq): stack.append(contentsOf: seq.reversed())
            case .alias: break
            }
            if bytes > Script.maxExpandedBytes || nodes > Script.maxExpandedNodes {
                let what = bytes > Script.maxExpandedBytes ? "over \(byteCount(Script.maxExpandedBytes)) of text"
                                                            : "over \(Script.maxExpandedNodes) YAML nodes"
                throw error(node, "the script expands to \(what) once aliases (*name) are replaced by their anchors (&name): "
                                  + "refused; repeat less, or use 'file:' for large replies")
            }
        }
    }

    // MARK: - rules

    private func rule(_ node: Node, index: Int) throws(ScriptError) -> Script.Rule {
        guard case .mapping(let map) = node else {
            throw error(node, "expected rule \(index) to be a mapping with 'match:' and one of 'reply:', 'fault:' or 'cycle:', found \(kind(node))")
        }
        try checkKeys(map, Self.ruleKeys, "a rule")
        var match = Script.Match()
        if let m = map[key: "match"] { match = try self.match(m) }
        let response = try map[key: "reply"].map { (r) throws(ScriptError) in try responseLayout(r, match) } ?? nil
        let delay = try map[key: "delay_ms"].map { (n) throws(ScriptError) in try milliseconds(n) } ?? 0
        let given = ["reply", "fault", "cycle"].filter { map[$0] != nil }
        guard given.count == 1 else {
            if given.isEmpty { throw error(node, "expected rule \(index) to say how to answer: one of 'reply:', 'fault:' or 'cycle:'") }
            throw error(map[given[1]]!, "expected only one of 'reply:', 'fault:' or 'cycle:' in rule \(index), found \(given.joined(separator: " and "))")
        }
        let behaviour: Script.Behaviour
        if let r = map[key: "reply"] {
            behaviour = .answer(try answer(r, defaultDelay: delay, allowFault: false, response: response))
        } else if let f = map[key: "fault"] {
            behaviour = .answer(Script.Answer(kind: try fault(f, exitCode: map[key: "exit_code"]), delayMS: delay))
        } else {
            let c = map[key: "cycle"]!
            guard case .sequence(let seq) = c, seq.count > 0 else {
                throw error(c, "expected 'cycle:' to be a non-empty list of answers like [{status: 0, text: a}, {fault: never_answer}], found \(kind(c))")
            }
            var answers: [Script.Answer] = []
            let response = try responseLayout(c, match)
            for n in seq { answers.append(try answer(n, defaultDelay: delay, allowFault: true, response: response)) }
            behaviour = .cycle(answers)
        }
        if map[key: "exit_code"] != nil, map[key: "fault"] == nil {
            throw error(map[key: "exit_code"]!, "'exit_code:' only goes with 'fault: exit'")
        }
        let mark = node.mark
        return Script.Rule(index: index, line: mark?.line ?? 0, column: mark?.column ?? 0, match: match, behaviour: behaviour)
    }

    // MARK: - match

    private func match(_ node: Node) throws(ScriptError) -> Script.Match {
        var m = Script.Match()
        if case .scalar(let s) = node, s.string == "any" { return m }
        guard case .mapping(let map) = node else {
            throw error(node, "expected 'match:' to be a mapping like {function: 1, text: ping} or 'any', found \(kind(node))")
        }
        try checkKeys(map, Self.matchKeys, "'match:'")
        if let f = map[key: "function"] { m.functions = try functions(f) }
        if map[key: "text"] != nil && map[key: "hex"] != nil {
            throw error(map[key: "hex"]!, "expected either 'text:' or 'hex:' in one match, not both")
        }
        if let t = map[key: "text"] { m.equals = Array(try string(t, "text").utf8) }
        if let h = map[key: "hex"] { m.equals = try hex(h) }
        if let p = map[key: "prefix"] { m.prefix = Array(try string(p, "prefix").utf8) }
        if let c = map[key: "contains"] { m.contains = Array(try string(c, "contains").utf8) }
        if let r = map[key: "regex"] {
            let pattern = try string(r, "regex")
            do throws(ScriptRegexError) {
                m.regex = try ScriptRegex(pattern)
            } catch {
                throw self.error(r, "expected a valid regular expression in the supported syntax (see docs/scripts.md), "
                                    + "'\(clipped(pattern))': \(error)")
            }
        }
        if let s = map[key: "size"] { m.size = try sizeRange(s) }
        if let f = map[key: "fields"] { try matchFields(f, &m) }
        return m
    }

    private func functions(_ node: Node) throws(ScriptError) -> Set<UInt32>? {
        switch node {
        case .scalar(let s) where s.string == "any":
            return nil
        case .scalar:
            return [try function(node)]
        case .sequence(let seq):
            var set = Set<UInt32>()
            for n in seq { set.insert(try function(n)) }
            guard !set.isEmpty else { throw error(node, "expected at least one function number in the list") }
            return set
        default:
            throw error(node, "expected 'function:' to be a number, a list of numbers like [1, 2], or 'any', found \(kind(node))")
        }
    }

    private func function(_ node: Node) throws(ScriptError) -> UInt32 {
        if case .scalar(let s) = node, parseInteger(s.string) == nil, let schema {
            guard let f = schema.function(named: s.string) else {
                throw error(node, "expected a function number or a name from \(schema.source) (\(schema.functions.map(\.name).joined(separator: ", "))), found '\(s.string)'")
            }
            return f.number
        }
        guard case .scalar(let s) = node, let v = parseInteger(s.string), v >= 0, v <= Int64(UInt32.max) else {
            throw error(node, "expected a function number from 0 to 4294967295, found \(kind(node))")
        }
        return UInt32(v)
    }

    private func sizeRange(_ node: Node) throws(ScriptError) -> ClosedRange<Int> {
        guard case .scalar(let s) = node else {
            throw error(node, "expected 'size:' to be a number or a range like \"0..16\", \"16..\" or \"..16\", found \(kind(node))")
        }
        let text = s.string.filter { $0 != " " }
        let bad = error(node, "expected 'size:' to be a number or a range like \"0..16\", \"16..\" or \"..16\", found '\(s.string)'")
        if let v = parseInteger(text) {
            guard v >= 0 else { throw bad }
            return Int(v)...Int(v)
        }
        guard let dots = text.range(of: "..") else { throw bad }
        let lo = text[..<dots.lowerBound], hi = text[dots.upperBound...]
        let low = lo.isEmpty ? 0 : parseInteger(String(lo)).map(Int.init)
        let high = hi.isEmpty ? Int.max : parseInteger(String(hi)).map(Int.init)
        guard let low, let high, low >= 0, low <= high else { throw bad }
        return low...high
    }

    // MARK: - answers

    private func answer(_ node: Node, defaultDelay: Int, allowFault: Bool, response: Layout?) throws(ScriptError) -> Script.Answer {
        guard case .mapping(let map) = node else {
            let what = allowFault ? "an answer like {status: 0, text: pong} or {fault: never_answer}" : "'reply:' to be a mapping like {status: 0, text: pong}"
            throw error(node, "expected \(what), found \(kind(node))")
        }
        var keys = Self.answerKeys
        if !allowFault { keys.removeAll { $0 == "fault" || $0 == "exit_code" } }
        try checkKeys(map, keys, allowFault ? "a cycle answer" : "'reply:'")
        let delay = try map[key: "delay_ms"].map { (n) throws(ScriptError) in try milliseconds(n) } ?? defaultDelay
        if let f = map[key: "fault"] {
            for k in ["status", "text", "hex", "file", "echo", "template", "fields"] where map[k] != nil {
                throw error(map[k]!, "a fault does not answer, so '\(k):' makes no sense next to 'fault:'")
            }
            return Script.Answer(kind: try fault(f, exitCode: map[key: "exit_code"]), delayMS: delay)
        }
        if let e = map[key: "exit_code"] { throw error(e, "'exit_code:' only goes with 'fault: exit'") }
        var status: Int32 = 0
        if let s = map[key: "status"] {
            guard case .scalar(let sc) = s, let v = parseInteger(sc.string), v >= Int64(Int32.min), v <= Int64(Int32.max) else {
                throw error(s, "expected 'status:' to be a 32-bit signed number like 0 or -5, found \(kind(s))")
            }
            status = Int32(v)
        }
        let sources = ["text", "hex", "file", "echo", "template", "fields"].filter { map[$0] != nil }
        if sources.count > 1 {
            throw error(map[sources[1]]!, "expected one source of reply data, found both '\(sources[0]):' and '\(sources[1]):'")
        }
        var data = Script.ReplyData.bytes([])
        if let t = map[key: "text"] { data = .bytes(Array(try string(t, "text").utf8)) }
        if let h = map[key: "hex"] { data = .bytes(try hex(h)) }
        if let f = map[key: "file"] {
            let path = try string(f, "file")
            let full = path.hasPrefix("/") ? path : baseDirectory + "/" + path
            switch readRegularFile(full, limit: Script.maxReplyFileBytes) {
            case .success(let bytes): data = .bytes(bytes)
            case .failure(let e):
                throw error(f, "expected a readable regular file of at most \(byteCount(Script.maxReplyFileBytes)), '\(clipped(full))' \(e.text)")
            }
        }
        if let e = map[key: "echo"] {
            guard case .scalar(let s) = e, let b = parseBool(s.string) else {
                throw error(e, "expected 'echo:' to be true or false, found \(kind(e))")
            }
            data = b ? .echo : .bytes([])
        }
        if let t = map[key: "template"] { data = .template(try template(t)) }
        if let f = map[key: "fields"] { data = .bytes(try replyFields(f, response)) }
        return Script.Answer(kind: .reply(status: status, data: data), delayMS: delay)
    }

    private func fault(_ node: Node, exitCode: Node?) throws(ScriptError) -> Script.Answer.Kind {
        guard case .scalar(let s) = node else {
            throw error(node, "expected 'fault:' to be never_answer or exit, found \(kind(node))")
        }
        switch s.string {
        case "never_answer":
            if let e = exitCode { throw error(e, "'exit_code:' only goes with 'fault: exit'") }
            return .neverAnswer
        case "exit":
            var code: Int32 = 3
            if let e = exitCode {
                guard case .scalar(let es) = e, let v = parseInteger(es.string), (0...255).contains(v) else {
                    throw error(e, "expected 'exit_code:' to be a number from 0 to 255, found \(kind(e))")
                }
                code = Int32(v)
            }
            return .exit(code: code)
        default:
            throw error(node, "expected 'fault:' to be never_answer or exit, found '\(s.string)'")
        }
    }

    private func template(_ node: Node) throws(ScriptError) -> [Script.TemplatePart] {
        let text = try string(node, "template")
        var parts: [Script.TemplatePart] = []
        var literal = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{" {
                let next = text.index(after: i)
                if next < text.endIndex, text[next] == "{" { literal.append("{"); i = text.index(after: next); continue }
                guard let close = text[next...].firstIndex(of: "}") else {
                    throw error(node, "expected '}' to close the placeholder in template '\(text)' (write '{{' for a literal brace)")
                }
                let name = String(text[next..<close])
                guard Script.templateFields.contains(name) else {
                    throw error(node, "unknown placeholder '{\(name)}' in template: expected one of " + Script.templateFields.map { "{\($0)}" }.joined(separator: " "))
                }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.field(name))
                i = text.index(after: close)
            } else if c == "}" {
                let next = text.index(after: i)
                if next < text.endIndex, text[next] == "}" { literal.append("}"); i = text.index(after: next); continue }
                literal.append("}"); i = next
            } else {
                literal.append(c); i = text.index(after: i)
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    // MARK: - scalars

    private func milliseconds(_ node: Node) throws(ScriptError) -> Int {
        guard case .scalar(let s) = node, let v = parseInteger(s.string), (0...600_000).contains(v) else {
            throw error(node, "expected 'delay_ms:' to be a number of milliseconds from 0 to 600000, found \(kind(node))")
        }
        return Int(v)
    }

    func string(_ node: Node, _ key: String) throws(ScriptError) -> String {
        guard case .scalar(let s) = node else {
            throw error(node, "expected '\(key):' to be a string, found \(kind(node))")
        }
        return s.string
    }

    private func hex(_ node: Node) throws(ScriptError) -> [UInt8] {
        let text = try string(node, "hex")
        var digits: [UInt8] = []
        for ch in text.utf8 where ch != 0x20 && ch != 0x0a && ch != 0x09 && ch != 0x2c {
            guard let d = hexDigit(ch) else {
                throw error(node, "expected hex digits like '70 6f 6e 67' in 'hex:', found '\(Character(Unicode.Scalar(ch)))'")
            }
            digits.append(d)
        }
        guard digits.count % 2 == 0 else {
            throw error(node, "expected an even number of hex digits in 'hex:', found \(digits.count)")
        }
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }
}

// MARK: - helpers

/// Decimal, `0x` hex, with an optional sign.
func parseInteger(_ text: String) -> Int64? {
    var t = Substring(text)
    var negative = false
    if t.hasPrefix("-") { negative = true; t = t.dropFirst() } else if t.hasPrefix("+") { t = t.dropFirst() }
    var radix = 10
    if t.hasPrefix("0x") || t.hasPrefix("0X") { radix = 16; t = t.dropFirst(2) }
    // Digits only from here: no second sign, at most 20 of them (no Int64 has more).
    guard !t.isEmpty, t.count <= 20, t.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
    guard let magnitude = UInt64(t, radix: radix) else { return nil }
    if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
    return Int64(exactly: magnitude)
}

func parseBool(_ text: String) -> Bool? {
    switch text.lowercased() {
    case "true", "yes", "on": true
    case "false", "no", "off": false
    default: nil
    }
}

