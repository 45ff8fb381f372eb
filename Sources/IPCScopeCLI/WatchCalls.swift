import IPCScopeObserve
import IPCScopeRecording
import IPCScopeSchema

// MARK: - watch: one call, as a JSON line and as a text line

/// `watch` follows the service with a `CallRecorder` (the one `record` uses): the trace ring says
/// which calls were served, and the slots, copied between calls under the recorder's rule (a slot's
/// `seq` must match the record and be unchanged after the copy, `next_seq` and `state` must show no
/// newer call touched it), give the whole payloads. A call whose slots were overwritten before a
/// poll could copy them is *partial*: only the ring's first 16 request bytes are known.
extension IPCScope.Watch {
    /// One call's JSON line: the trace record's keys (as before), then `partial` and `client_tid`,
    /// `request_hex` / `response_hex` for each direction copied whole (what `replay` reads back),
    /// then with a schema the function's name, the status's meaning and the decoded fields.
    static func callJSON(_ call: RecordedCall, schema: Schema? = nil) -> JSON {
        let r = call.traceRecord
        guard case .object(let pairs) = r.json else { return r.json }
        var out: [(String, JSON)] = [("event", .string("call"))] + pairs
        out += [("partial", .bool(call.partial)), ("client_tid", .number(call.clientTID))]
        if call.requestComplete { out.append(("request_hex", .hex(call.request))) }
        if call.responseComplete { out.append(("response_hex", .hex(call.response))) }
        if let schema { out += schemaPairs(call, schema) }
        return .object(out)
    }

    /// With a schema: `function_name`, `status_meaning`; the request's `fields` (also as
    /// `request_fields`), `warnings` and `rest_hex`, decoded from the whole request when it was
    /// copied, else from the ring's 16-byte head (with a warning saying what is not shown); and the
    /// response's `response_fields`, `response_warnings` and `response_rest_hex` when the whole
    /// response was copied (never for a partial response).
    static func schemaPairs(_ call: RecordedCall, _ schema: Schema) -> [(String, JSON)] {
        var out: [(String, JSON)] = []
        if let f = schema.function(call.function) { out.append(("function_name", .string(f.name))) }
        if let m = schema.meaning(status: call.status, function: call.function) { out.append(("status_meaning", .string(m))) }
        if let request = decodedRequest(call, schema) {
            out += request.jsonPairs
            out.append(("request_fields", request.fieldsJSON))
        }
        if let response = decodedResponse(call, schema) {
            out.append(("response_fields", response.fieldsJSON))
            if !response.warnings.isEmpty { out.append(("response_warnings", .array(response.warnings.map { .string($0) }))) }
            if !response.rest.isEmpty { out.append(("response_rest_hex", .hex(response.rest))) }
        }
        return out
    }

    /// The call's line: the trace record's line, `partial` when the call was seen only in part,
    /// and with a schema ` set_value {id=3 value=2.5} -> {ok=true previous=1.5}`.
    static func callText(_ call: RecordedCall, schema: Schema?, style: TextStyle, clock: HostClock? = nil) -> String {
        var s = call.traceRecord.line(style: style, clock: clock)
        if call.partial { s += " " + style.yellow("partial") }
        guard let schema, let f = schema.function(call.function) else { return s }
        func braces(_ d: DecodedPayload?) -> String {
            let fields = d?.fields.map { "\($0.path)=\($0.value.text)" } ?? []
            return fields.isEmpty ? "" : "{" + fields.joined(separator: " ") + "}"
        }
        s += " " + f.name
        let request = braces(decodedRequest(call, schema)), response = braces(decodedResponse(call, schema))
        if !request.isEmpty { s += " " + request }
        if !response.isEmpty { s += " -> " + response }
        return s
    }

    /// The request through the schema: whole when copied whole, else the ring's head.
    static func decodedRequest(_ call: RecordedCall, _ schema: Schema) -> DecodedPayload? {
        call.requestComplete ? schema.decodeRequest(call.function, call.request) : schema.decodeHead(call.traceRecord)
    }

    /// The response through the schema, only when every byte of it was copied (and, as `call`
    /// does, not an empty answer with a non-zero status: a failure, not a reply to decode).
    static func decodedResponse(_ call: RecordedCall, _ schema: Schema) -> DecodedPayload? {
        guard call.responseComplete, !(call.response.isEmpty && call.status != 0) else { return nil }
        return schema.decodeResponse(call.function, call.response)
    }
}
