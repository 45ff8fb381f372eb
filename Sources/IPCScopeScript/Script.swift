#if canImport(Glibc)
import IPCScopeKit
import Glibc
#endif
import IPCScopeSchema
import Yams

// MARK: - errors

/// A script that cannot be used: where (1-based line and column) and what was expected.
///
/// `description` is one line, `file:line:column: message`, ready for stderr.
package struct ScriptError: YAMLSourceError, Sendable, Equatable {
    /// The script's path, or `<script>` for text parsed in memory.
    package var file: String
    /// 1-based line of the offending node (0 when unknown, e.g. the file cannot be read).
    package var line: Int
    /// 1-based column of the offending node (0 when unknown).
    package var column: Int
    /// What was expected there, and what was found.
    package var message: String

    package init(file: String = "<script>", line: Int, column: Int, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    package var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

// MARK: - the model

/// A parsed, validated script: rules tried in order; the first that matches answers.
/// A call no rule matches answers status -3 (no handler for this function).
package struct Script: Sendable {
    /// The rules, in the order they are tried.
    package var rules: [Rule]
    /// Where the script came from (for messages).
    package var source: String

    /// One rule: what it matches and how it answers.
    package struct Rule: Sendable {
        /// 1-based position in the `rules` list.
        package var index: Int
        /// Line and column of the rule in the script.
        package var line: Int
        package var column: Int
        package var match: Match
        package var behaviour: Behaviour

        package init(index: Int, line: Int = 0, column: Int = 0, match: Match, behaviour: Behaviour) {
            self.index = index
            self.line = line
            self.column = column
            self.match = match
            self.behaviour = behaviour
        }
    }

    /// What a call must look like for a rule to apply. Every given condition must hold.
    package struct Match: Sendable {
        /// `nil` matches any function.
        package var functions: Set<UInt32>?
        /// Exact payload bytes (from `text:` or `hex:`).
        package var equals: [UInt8]?
        /// The payload starts with these bytes.
        package var prefix: [UInt8]?
        /// The payload contains these bytes.
        package var contains: [UInt8]?
        /// A regular expression searched in the payload decoded as UTF-8.
        package var regex: ScriptRegex?
        /// The payload size lies in this range.
        package var size: ClosedRange<Int>?
        /// Fields the payload, read through `fieldLayout` (the schema's request), must hold.
        package var fields: [FieldInput]?
        /// The request layout `fields` are read through.
        package var fieldLayout: Layout?

        package init() {}
    }

    /// How a rule answers.
    package enum Behaviour: Sendable {
        /// The same answer every time.
        case answer(Answer)
        /// Answers in turn, starting again after the last.
        case cycle([Answer])
    }

    /// One answer: a reply or a fault, optionally after a delay.
    package struct Answer: Sendable {
        package var kind: Kind
        /// Wait this long before answering (or before the fault).
        package var delayMS: Int

        package init(kind: Kind, delayMS: Int = 0) {
            self.kind = kind
            self.delayMS = delayMS
        }

        package enum Kind: Sendable {
            /// Status and data.
            case reply(status: Int32, data: ReplyData)
            /// Never answer: the handler blocks until the server stops; the client times out.
            case neverAnswer
            /// The server process exits (with this code) while the call is PROCESSING.
            case exit(code: Int32)
        }
    }

    /// Where reply bytes come from.
    package enum ReplyData: Sendable {
        /// Fixed bytes (from `text:`, `hex:` or `file:`, read when the script is loaded).
        case bytes([UInt8])
        /// The request's own payload.
        case echo
        /// A template with `{field}` placeholders (see `ScriptRequest.field(_:)`).
        case template([TemplatePart])
    }

    /// A piece of a reply template.
    package enum TemplatePart: Sendable, Equatable {
        case literal(String)
        case field(String)
    }

    /// The placeholder names a template may use.
    package static let templateFields = ["function", "size", "text", "hex", "seq", "pid", "tid", "count"]

    package init(rules: [Rule], source: String = "<script>") {
        self.rules = rules
        self.source = source
    }

    /// The largest script file (and YAML text) accepted.
    package static let maxScriptBytes = 1 << 20
    /// The most bytes of scalars a script may hold once aliases (`*name`) are replaced by
    /// their anchors (`&name`): an alias bomb is refused before anything is built from it.
    package static let maxExpandedBytes = 4 << 20
    /// The most YAML nodes a script may hold once aliases are expanded.
    package static let maxExpandedNodes = 200_000
    /// The largest `file:` reply; larger replies could not fit a response area anyway.
    package static let maxReplyFileBytes = 1 << 20

    /// Reads and parses the script at `path`; `file:` replies are read relative to its directory.
    ///
    /// The script must be a regular file of at most `maxScriptBytes`; it is opened without
    /// blocking, so a FIFO or a device is refused rather than waited on.
    /// - Throws: `ScriptError` with line and column of the first problem.
    package static func load(path: String, schema: Schema? = nil) throws(ScriptError) -> Script {
        let bytes: [UInt8]
        switch readRegularFile(path, limit: maxScriptBytes) {
        case .success(let b): bytes = b
        case .failure(let e):
            let what = if case .system = e { "check the path" } else { "give the path of a YAML script" }
            throw ScriptError(file: path, line: 0, column: 0, "the script \(e.text): \(what)")
        }
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try parse(yaml: String(decoding: bytes, as: UTF8.self), source: path, baseDirectory: dir.isEmpty ? "/" : dir, schema: schema)
    }

    /// Parses a script from YAML text.
    /// - Parameters:
    ///   - source: the name used in error messages.
    ///   - baseDirectory: where relative `file:` and `schema:` paths are looked up.
    ///   - schema: names functions and lays out `fields:` (a `schema:` key in the script wins).
    /// - Throws: `ScriptError` with line and column of the first problem.
    package static func parse(yaml: String, source: String = "<script>", baseDirectory: String = ".",
                             schema: Schema? = nil) throws(ScriptError) -> Script {
        var parser = ScriptParser(source: source, baseDirectory: baseDirectory, schema: schema)
        return try parser.parse(yaml)
    }
}
