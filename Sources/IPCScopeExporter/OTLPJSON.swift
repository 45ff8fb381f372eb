import IPCScopeObserve

/// OTLP/JSON bodies (the OTLP/HTTP `application/json` encoding: the protobuf JSON mapping of
/// opentelemetry-proto, with 64-bit integers as strings and trace and span ids as hex).
package enum OTLPJSON {
    /// The instrumentation scope of everything the exporter sends.
    static let scope: JSON = .object([("name", .string("ipcscope")), ("version", .string("1"))])

    static func attribute(_ key: String, _ value: String) -> JSON {
        .object([("key", .string(key)), ("value", .object([("stringValue", .string(value))]))])
    }
    static func attribute(_ key: String, int value: Int64) -> JSON {
        .object([("key", .string(key)), ("value", .object([("intValue", .string(String(value)))]))])
    }
    static func attribute(_ key: String, bool value: Bool) -> JSON {
        .object([("key", .string(key)), ("value", .object([("boolValue", .bool(value))]))])
    }

    /// A series' labels in the OpenTelemetry words: `service` is the RPC service (with
    /// `rpc.system` ipcscope), `function` the RPC method, `host` the host's name.
    static func attributes(_ labels: [(String, String)]) -> [JSON] {
        var out: [JSON] = []
        for (k, v) in labels {
            switch k {
            case "service":
                out.append(attribute("rpc.system", "ipcscope"))
                out.append(attribute("rpc.service", v))
            case "function": out.append(attribute("rpc.method", v))
            case "host": out.append(attribute("host.name", v))
            default: out.append(attribute(k, v))
            }
        }
        return out
    }

    static func resource(_ attributes: [(String, String)]) -> JSON {
        .object([("attributes", .array(attributes.map { attribute($0.0, $0.1) }))])
    }

    static func ns(_ v: UInt64) -> JSON { .string(String(v)) }

    /// An `ExportMetricsServiceRequest`: every series, cumulative sums for counters, gauges,
    /// explicit-bucket histograms.
    package static func metrics(_ points: [SeriesPoint], resource resourceAttributes: [(String, String)], nowUnixNS: UInt64) -> JSON {
        var order: [String] = []
        var byName: [String: [SeriesPoint]] = [:]
        for p in points {
            if byName[p.info.name] == nil { order.append(p.info.name) }
            byName[p.info.name, default: []].append(p)
        }
        var metrics: [JSON] = []
        for name in order {
            let group = byName[name]!
            let info = group[0].info
            var fields: [(String, JSON)] = [("name", .string(info.otlpName)), ("description", .string(info.help)), ("unit", .string(info.otlpUnit))]
            switch info.kind {
            case .counter:
                let points: [JSON] = group.map { p in
                    .object([("attributes", .array(attributes(p.labels))), ("startTimeUnixNano", ns(p.startUnixNS)),
                             ("timeUnixNano", ns(nowUnixNS)), ("asInt", .string(String(Int64(p.value)))),])
                }
                fields.append(("sum", .object([("dataPoints", .array(points)), ("aggregationTemporality", .int(2)), ("isMonotonic", .bool(true))])))
            case .gauge:
                let points: [JSON] = group.map { p in
                    .object([("attributes", .array(attributes(p.labels))), ("timeUnixNano", ns(nowUnixNS)), ("asDouble", .double(p.value))])
                }
                fields.append(("gauge", .object([("dataPoints", .array(points))])))
            case .histogram:
                let points: [JSON] = group.map { p in
                    .object([("attributes", .array(attributes(p.labels))), ("startTimeUnixNano", ns(p.startUnixNS)),
                             ("timeUnixNano", ns(nowUnixNS)), ("count", .string(String(p.count))), ("sum", .double(p.sum)),
                             ("bucketCounts", .array(p.bucketCounts.map { .string(String($0)) })),
                             ("explicitBounds", .array(MetricCatalog.durationBuckets.map { .double($0) })),])
                }
                fields.append(("histogram", .object([("dataPoints", .array(points)), ("aggregationTemporality", .int(2))])))
            }
            metrics.append(.object(fields))
        }
        return .object([("resourceMetrics", .array([
            .object([("resource", resource(resourceAttributes)),
                     ("scopeMetrics", .array([.object([("scope", scope), ("metrics", .array(metrics))])]))]),
        ]))])
    }

    /// An `ExportTraceServiceRequest`: one server span per sampled call, one resource per
    /// service (`service.name` the section's service), named and attributed by the
    /// OpenTelemetry RPC conventions.
    package static func traces<G: RandomNumberGenerator>(_ calls: [SampledCall], using generator: inout G) -> JSON {
        var order: [String] = []
        var byService: [String: [SampledCall]] = [:]
        for c in calls {
            let key = (c.host ?? "") + "/" + c.service
            if byService[key] == nil { order.append(key) }
            byService[key, default: []].append(c)
        }
        var resources: [JSON] = []
        for key in order {
            let group = byService[key]!
            var resourceAttributes = [("service.name", group[0].service)]
            if let h = group[0].host { resourceAttributes.append(("host.name", h)) }
            let spans: [JSON] = group.map { c in
                var attrs = [attribute("rpc.system", "ipcscope"), attribute("rpc.service", c.service), attribute("rpc.method", c.method),
                             attribute("ipcscope.function", int: Int64(c.function)), attribute("ipcscope.status", int: Int64(c.status)),
                             attribute("ipcscope.request.size", int: Int64(c.requestSize)),
                             attribute("ipcscope.response.size", int: Int64(c.responseSize)),
                             attribute("ipcscope.client.pid", int: Int64(c.clientPID)), attribute("ipcscope.seq", int: Int64(clamping: c.seq)),]
                if c.rejected { attrs.append(attribute("ipcscope.rejected", bool: true)) }
                if c.afterRecovery { attrs.append(attribute("ipcscope.after_recovery", bool: true)) }
                if let h = c.host { attrs.append(attribute("host.name", h)) }
                var span: [(String, JSON)] = [
                    ("traceId", .string(hex(generator.next(), generator.next()))), ("spanId", .string(hex(generator.next()))),
                    ("name", .string("ipcscope/" + c.method)), ("kind", .int(2)),  // SPAN_KIND_SERVER
                    ("startTimeUnixNano", ns(c.startUnixNS)), ("endTimeUnixNano", ns(c.endUnixNS)), ("attributes", .array(attrs)),
                ]
                if c.failed {
                    let why = c.rejected ? "rejected: the request was over the section's capacity" : "status \(c.status)"
                    span.append(("status", .object([("code", .int(2)), ("message", .string(why))])))  // STATUS_CODE_ERROR
                }
                return .object(span)
            }
            resources.append(.object([("resource", resource(resourceAttributes)),
                                      ("scopeSpans", .array([.object([("scope", scope), ("spans", .array(spans))])]))]))
        }
        return .object([("resourceSpans", .array(resources))])
    }

    /// Lower-case hex of 64-bit words, most significant byte first; never all zero (an invalid id).
    static func hex(_ words: UInt64...) -> String {
        var out = ""
        for (i, w) in words.enumerated() {
            let v = (i == words.count - 1 && words.allSatisfy { $0 == 0 }) ? 1 : w
            let s = String(v, radix: 16)
            out += String(repeating: "0", count: 16 - s.count) + s
        }
        return out
    }
}
