// What the schema parser and the script parser share: errors placed at a YAML node's line and
// column, the node described in words, Yams' own errors turned into one-line messages, and
// unknown keys refused with the list of those allowed.
import Yams

/// An error at a place in a YAML file (a schema or a script): `file:line:column: message`.
package protocol YAMLSourceError: Error, CustomStringConvertible {
    init(file: String, line: Int, column: Int, _ message: String)
}

/// A parser of one YAML file, whose errors name `source` and the offending node's position.
package protocol YAMLSourceParser {
    associatedtype Failure: YAMLSourceError
    /// The file's path (or a placeholder such as `<schema>`), for messages.
    var source: String { get }
}

extension YAMLSourceParser {
    /// An error at `node`'s position.
    package func error(_ node: Node, _ message: String) -> Failure {
        Failure(file: source, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, message)
    }

    /// `node` in words for a message: its text (cut to 60 characters), or what kind of node it is.
    package func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): "'\(clipped(s.string))'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// `text`, cut to 60 characters for a one-line message.
    package func clipped(_ text: String) -> String {
        text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    /// Yams' parse error as one line at its position.
    package func yamlError(_ e: YamlError) -> Failure {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let ctx = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return Failure(file: source, line: mark.line, column: mark.column, "expected valid YAML: \(problem)\(ctx)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Failure(file: source, line: context.mark.line, column: context.mark.column,
                           "expected each key once in a mapping, found \(duplicates.joined(separator: ", ")) twice")
        default:
            return Failure(file: source, line: 0, column: 0, "cannot parse the YAML: \(e)")
        }
    }

    /// Refuses the first key of `map` that is not in `allowed`, naming `what` the mapping is.
    package func checkKeys(_ map: Node.Mapping, _ allowed: [String], _ what: String) throws(Failure) {
        for (k, _) in map {
            guard case .scalar(let s) = k, allowed.contains(s.string) else {
                throw error(k, "unknown key \(kind(k)) in \(what): expected one of \(allowed.joined(separator: ", "))")
            }
        }
    }
}

extension Node.Mapping {
    /// The value of the scalar key `key`, if there is one (compared as text, whatever its tag).
    package subscript(key key: String) -> Node? {
        for (k, v) in self { if case .scalar(let s) = k, s.string == key { return v } }
        return nil
    }
}
