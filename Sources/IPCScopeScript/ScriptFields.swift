import IPCScopeSchema
import Yams

// `fields:` in scripts: a match on a request's fields and a reply built from fields, both
// through the schema's layouts, checked when the script is loaded.
extension ScriptParser {
    /// The script's `schema:` key: a schema file, relative to the script.
    func loadSchema(_ node: Node) throws(ScriptError) -> Schema {
        let path = try string(node, "schema")
        let full = path.hasPrefix("/") ? path : baseDirectory + "/" + path
        do {
            return try Schema.load(path: full)
        } catch {
            throw self.error(node, "the schema does not load: \(error.description)")
        }
    }

    /// The one function a rule's match names, for `fields:`.
    private func onlyFunction(_ node: Node, _ m: Script.Match, _ what: String) throws(ScriptError) -> SchemaFunction {
        guard let schema else {
            throw error(node, "'fields:' needs a schema: add 'schema: FILE' at the top of the script, or give serve --schema FILE")
        }
        guard let fs = m.functions, fs.count == 1, let number = fs.first else {
            throw error(node, "'fields:' in \(what) needs the match to name exactly one function, like {function: set_value}")
        }
        guard let f = schema.function(number) else {
            throw error(node, "'fields:' needs function \(number) in \(schema.source), which does not describe it")
        }
        return f
    }

    func matchFields(_ node: Node, _ m: inout Script.Match) throws(ScriptError) {
        let f = try onlyFunction(node, m, "a match")
        guard let layout = f.request else { throw error(node, "\(schema?.source ?? "the schema") gives no request layout for \(f.name)") }
        let inputs = try flatten(node)
        for (input, at) in inputs {
            do { try layout.check([input], what: "\(f.name)'s request") } catch { throw self.error(at, error.message) }
        }
        m.fields = inputs.map(\.0)
        m.fieldLayout = layout
    }

    /// The response layout a rule's `reply:`/`cycle:` `fields:` are built with (nil when none uses them).
    func responseLayout(_ node: Node, _ m: Script.Match) throws(ScriptError) -> Layout? {
        let answers: [Node]
        switch node {
        case .sequence(let seq): answers = Array(seq)
        default: answers = [node]
        }
        guard let first = answers.first(where: { if case .mapping(let map) = $0 { return map[key: "fields"] != nil }; return false }),
              case .mapping(let map) = first, let fnode = map[key: "fields"] else { return nil }
        let f = try onlyFunction(fnode, m, "a reply")
        guard let layout = f.response else { throw error(fnode, "\(schema?.source ?? "the schema") gives no response layout for \(f.name)") }
        return layout
    }

    func replyFields(_ node: Node, _ layout: Layout?) throws(ScriptError) -> [UInt8] {
        guard let layout else { throw error(node, "'fields:' needs a schema with the function's response layout") }
        let inputs = try flatten(node)
        for (input, at) in inputs {
            do { _ = try layout.encode([input], what: "the response") } catch { throw self.error(at, error.message) }
        }
        do { return try layout.encode(inputs.map(\.0), what: "the response") } catch { throw self.error(node, error.message) }
    }

    /// `{id: 3, where: {x: 1}, samples: [1, 2]}` as `id=3`, `where.x=1`, `samples[0]=1`, `samples[1]=2`.
    func flatten(_ node: Node) throws(ScriptError) -> [(FieldInput, Node)] {
        guard case .mapping = node else {
            throw error(node, "expected 'fields:' to be a mapping like {id: 3, value: 2.5}, found \(kind(node))")
        }
        var out: [(FieldInput, Node)] = []
        try flatten(node, path: "", depth: 0, into: &out)
        return out
    }

    private func flatten(_ node: Node, path: String, depth: Int, into out: inout [(FieldInput, Node)]) throws(ScriptError) {
        guard depth <= Schema.maxDepth, out.count <= Schema.maxLeaves else { throw error(node, "'fields:' nests too deep or holds too many values") }
        switch node {
        case .scalar(let s):
            out.append((FieldInput(path: path, text: s.string), node))
        case .mapping(let map):
            for (k, v) in map {
                guard case .scalar(let ks) = k else { throw error(k, "expected a field name, found \(kind(k))") }
                try flatten(v, path: path.isEmpty ? ks.string : path + "." + ks.string, depth: depth + 1, into: &out)
            }
        case .sequence(let seq):
            for (i, v) in seq.enumerated() { try flatten(v, path: "\(path)[\(i)]", depth: depth + 1, into: &out) }
        case .alias:
            throw error(node, "aliases are not supported in 'fields:'")
        }
    }
}
