import IPCScopeSchema
import IPCScopeObserve

/// Tab in the client pane completes the word being typed, as a shell does: a function name of
/// the schema (first word), a request field name (`name=`), an enum name or `true`/`false` after
/// `=`, or a saved call after `@`. One candidate: the word is finished. Several: the word grows to
/// what they share, and they are listed under the input line.
extension InspectorModel {
    /// What Tab does to `input`: the new input and the candidates still open (empty when the
    /// word was finished). Nil when there is nothing to complete (Tab then changes the pane).
    func complete(_ input: String) -> (input: String, candidates: [String])? {
        guard !input.isEmpty, !input.contains("\n") else { return nil }
        let head = input.lastIndex(of: " ").map { String(input[...$0]) } ?? ""
        let word = String(input.dropFirst(head.count))
        let words = input.split(separator: " ").map(String.init)
        var candidates: [String]
        var finish = " "
        if head.isEmpty {
            if word.hasPrefix("@") {
                candidates = client.saved.map { "@" + $0.name }
            } else {
                guard let schema else { return nil }
                candidates = schema.functions.map(\.name)
            }
        } else if let first = words.first, UInt32(first) == nil, let layout = schema?.function(named: first)?.request {
            let leaves = layout.leaves
            if let eq = word.firstIndex(of: "=") {
                let path = String(word[..<eq])
                guard let leaf = leaves.first(where: { $0.path == path }) else { return (input, []) }
                candidates = Self.valueNames(leaf.type).map { path + "=" + $0 }
            } else {
                let given = Set(words.dropFirst().compactMap { $0.split(separator: "=").first.map(String.init) })
                candidates = leaves.map(\.path).filter { !given.contains($0) }
                finish = "="
            }
        } else {
            // A plain `FUNCTION PAYLOAD` call: without a schema Tab keeps changing the pane.
            return schema == nil ? nil : (input, [])
        }
        candidates = candidates.filter { $0.hasPrefix(word) }
        if candidates.count == 1 { return (head + candidates[0] + finish, []) }
        let shared = Self.commonPrefix(candidates)
        return (head + (shared.count > word.count ? shared : word), candidates)
    }

    /// The names a field's value can take: an enum's names, `true`/`false`; none for the rest.
    static func valueNames(_ type: FieldType) -> [String] {
        switch type {
        case .enumeration(_, let cases): cases.map(\.name)
        case .bool: ["true", "false"]
        default: []
        }
    }

    /// The longest prefix shared by every string (empty for none).
    static func commonPrefix(_ strings: [String]) -> String {
        guard var prefix = strings.first else { return "" }
        for s in strings.dropFirst() {
            while !s.hasPrefix(prefix) { prefix.removeLast() }
        }
        return prefix
    }

    /// Tab in the client pane; nil: nothing to complete, Tab changes the pane.
    mutating func completeInput() -> [InspectorAction]? {
        let before = client.input
        guard let (input, candidates) = complete(before) else { return nil }
        let word = before.split(separator: " ", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        client.input = input
        client.problem = nil
        client.info = nil
        client.completions = candidates
        if candidates.isEmpty && input == before {
            client.problem = "nothing completes '\(word)'"
        }
        return []
    }
}
