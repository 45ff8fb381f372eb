import IPCScopeKit
import IPCScopeSchema
import IPCScopeObserve

/// The `f` view of the request and response panes: the slot decoded through the schema, one
/// field a line with its offset and value, beside a hex dump of the payload (see
/// PanesFieldCursor.swift); a field whose bytes just changed is marked as changed bytes are in
/// the hex dump (reverse, then underlined).
extension InspectorModel {
    /// `set_value (3)` when the schema names the function, else `3`.
    func functionLabel(_ function: UInt32) -> String {
        schema?.label(function) ?? String(function)
    }

    /// The slot decoded with the request (or, for the response, the request's function's
    /// response) layout; nil when the schema does not describe it.
    func decodedSlot(_ function: UInt32, _ isRequest: Bool, _ payload: [UInt8]) -> DecodedPayload? {
        guard let f = schema?.function(function) else { return nil }
        return (isRequest ? f.request : f.response)?.decode(payload)
    }

    /// The strongest change mark over a field's bytes.
    static func mark(_ diff: ByteDiff, _ offset: Int, _ size: Int) -> ChangeMark {
        var best = ChangeMark.none
        for i in offset..<(offset + max(1, size)) {
            switch diff.mark(i) {
            case .fresh: return .fresh
            case .fading: best = .fading
            case .none: break
            }
        }
        return best
    }
}

// MARK: - the client pane: a call from fields

extension InspectorModel {
    /// `set_value id=3 value=2.5 name=pump`: a call built through the schema when the first word
    /// names one of its functions (a number keeps the plain `FUNCTION PAYLOAD` form); nil otherwise.
    /// - Throws: `PayloadSyntaxError` naming the field and what it accepts.
    func schemaCall(_ input: String) throws -> ClientCall? {
        let words = input.split(separator: " ", omittingEmptySubsequences: true)
        guard let schema, let first = words.first, UInt32(first) == nil,
              let f = schema.functions.first(where: { $0.name == first }) else { return nil }
        guard let layout = f.request else {
            if words.count == 1 { return ClientCall(function: f.number, payload: []) }
            throw PayloadSyntaxError("the schema gives no request layout for \(f.name): type '\(f.number) PAYLOAD' instead")
        }
        do {
            var inputs: [FieldInput] = []
            for w in words.dropFirst() {
                var one = try FieldInput.parse(String(w))
                one.origin = ""
                inputs.append(one)
            }
            return ClientCall(function: f.number, payload: try layout.encode(inputs, what: "\(f.name)'s request"))
        } catch {
            throw PayloadSyntaxError(error.message)
        }
    }

    /// The field names of `function`'s request that start with `prefix` (for completion hints).
    func fieldNames(_ function: String, prefix: String) -> [String] {
        guard let l = schema?.function(named: function)?.request else { return [] }
        return l.leaves.map(\.path).filter { $0.hasPrefix(prefix) }
    }
}

extension InspectorModel {
    /// The client pane's answer through the schema: up to six `path value` lines.
    func answerFields(_ o: ClientOutcome) -> [(String, Style)] {
        guard let l = schema?.function(o.call.function)?.response, !(o.response.isEmpty && (o.status ?? 0) != 0) else { return [] }
        let d = l.decode(o.response)
        var out = d.fields.prefix(6).map { ("\($0.path) = \($0.value.text)", Style.plain) }
        if d.fields.count > 6 { out.append(("... \(d.fields.count - 6) more fields", .dim)) }
        out += d.warnings.prefix(2).map { ("! " + $0, Style(.bold, .warning)) }
        return out
    }

    /// While typing `set_value id=3 va`: the request's field names that fit the word being typed.
    func fieldHint() -> String? {
        let words = client.input.split(separator: " ", omittingEmptySubsequences: false)
        if words.count == 1, let schema, let w = words.first, !w.isEmpty, UInt32(w) == nil, !w.hasPrefix("@") {
            let names = schema.functions.map(\.name).filter { $0.hasPrefix(w) }
            return names.isEmpty ? nil : "functions: " + names.prefix(12).joined(separator: " ")
        }
        guard words.count >= 2, let first = words.first, UInt32(first) == nil, schema?.function(named: String(first)) != nil else { return nil }
        let typing = String(words.last ?? "")
        guard !typing.contains("=") else { return nil }
        let names = fieldNames(String(first), prefix: typing)
        return names.isEmpty ? "no field starts with '\(typing)'" : "fields: " + names.prefix(12).joined(separator: " ")
    }
}
