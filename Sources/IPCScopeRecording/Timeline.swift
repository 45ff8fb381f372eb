/// A recording's calls on a timeline (`ipcscope timeline`): a track per client process (and
/// per thread where the recording has its tid) and one for the server; each call a slice on
/// both, linked by a flow arrow; takeovers as instant events. Written as a Perfetto trace
/// (TracePacket protobuf, `perfettoTrace`) or as Chrome's trace-event JSON (`chromeJSON`).
///
/// The client's slice runs from `sent_ns` to `done_ns` (send to answer). The server answers
/// one call at a time, so its slice starts at `max(sent_ns, the previous call's done_ns)`
/// (`LatencyStats.serviceStartNS`) and ends at `done_ns`. Times are the recording host's
/// CLOCK_MONOTONIC, in both formats.
import IPCScopeObserve

package struct Timeline: Sendable {
    /// What a track stands for.
    package enum TrackKind: Hashable, Sendable {
        case server
        case process(pid: Int32)
        case thread(pid: Int32, tid: Int32)
        /// A client process's calls whose thread was not recorded (partial calls).
        case threadNotRecorded(pid: Int32)
    }

    package struct Track: Equatable, Sendable {
        package var uuid: UInt64
        package var name: String
        package var kind: TrackKind
        /// The process track a thread track belongs to.
        package var parent: UInt64?
    }

    /// A debug annotation (Perfetto) or an `args` entry (JSON).
    package enum Arg: Equatable, Sendable {
        case int(Int64), uint(UInt64), string(String), bool(Bool)
    }

    package struct Slice: Sendable {
        package var track: UInt64
        package var startNS: UInt64
        package var endNS: UInt64
        package var name: String
        package var categories: [String]
        package var args: [(String, Arg)]
        /// The flow that leaves this slice (the client's) or ends in it (the server's).
        package var flowOut: UInt64?
        package var flowIn: UInt64?
    }

    package struct Instant: Sendable {
        package var track: UInt64
        package var ns: UInt64
        package var name: String
        package var args: [(String, Arg)]
    }

    package var service: String
    package private(set) var tracks: [Track] = []
    package private(set) var slices: [Slice] = []
    package private(set) var instants: [Instant] = []
    /// Calls whose server slice could not start at the previous call's answer (that call is not
    /// in the recording): their server slice starts when they were sent.
    package private(set) var callsWithoutPredecessor = 0

    /// The server track's uuid.
    package static let serverTrack: UInt64 = 1

    /// Lays out `recording`; `functionName` names functions (from a schema).
    package init(_ recording: Recording, functionName: (UInt32) -> String? = { _ in nil }) {
        service = recording.service ?? "recording"
        tracks.append(Track(uuid: Timeline.serverTrack, name: "server: " + service, kind: .server, parent: nil))
        var processTracks: [Int32: UInt64] = [:]
        var threadTracks: [TrackKind: UInt64] = [:]
        func track(for call: RecordedCall) -> UInt64 {
            let pid = call.clientPID
            let process = processTracks[pid] ?? {
                let uuid = UInt64(tracks.count + 1)
                tracks.append(Track(uuid: uuid, name: "client pid \(pid)", kind: .process(pid: pid), parent: nil))
                processTracks[pid] = uuid
                return uuid
            }()
            let kind: TrackKind = call.clientTID != 0 ? .thread(pid: pid, tid: call.clientTID) : .threadNotRecorded(pid: pid)
            if let t = threadTracks[kind] { return t }
            let uuid = UInt64(tracks.count + 1)
            let name = call.clientTID != 0 ? "tid \(call.clientTID)" : "thread not recorded"
            tracks.append(Track(uuid: uuid, name: name, kind: kind, parent: process))
            threadTracks[kind] = uuid
            return uuid
        }

        // The call before a call is the same server epoch's seq - 1 (the file holds calls in the
        // order they were copied, which is not always seq order).
        struct Key: Hashable { var epoch: UInt32, seq: UInt64 }
        var doneBySeq: [Key: UInt64] = [:]
        var epochStart: [(epoch: UInt32, ns: UInt64)] = []
        for call in recording.calls {
            doneBySeq[Key(epoch: call.epoch, seq: call.seq)] = max(call.doneNS, call.sentNS)
            if let i = epochStart.firstIndex(where: { $0.epoch == call.epoch }) {
                epochStart[i].ns = min(epochStart[i].ns, call.sentNS)
            } else {
                epochStart.append((call.epoch, call.sentNS))
            }
        }
        // A takeover: a new server epoch, drawn at its first call (the recording does not say
        // when between the old server's last call and that one it happened).
        for (p, e) in zip(epochStart, epochStart.dropFirst()) {
            instants.append(Instant(track: Timeline.serverTrack, ns: e.ns, name: "takeover: epoch \(p.epoch) → \(e.epoch)", args: [
                ("previous_epoch", .uint(UInt64(p.epoch))), ("epoch", .uint(UInt64(e.epoch))),
                ("note", .string("drawn at the new server's first call; it took over after the last call of the one before")),
            ]))
        }
        var flow: UInt64 = 0
        for call in recording.calls {
            let prevDone = call.seq > 0 ? doneBySeq[Key(epoch: call.epoch, seq: call.seq - 1)] : nil
            if prevDone == nil { callsWithoutPredecessor += 1 }
            let done = max(call.doneNS, call.sentNS)
            let start = LatencyStats.serviceStartNS(sentNS: call.sentNS, doneNS: done, previousDoneNS: prevDone)

            var name = functionName(call.function) ?? "fn \(call.function)"
            if call.status != 0 { name += " (status \(call.status))" }
            var categories = ["call"]
            if call.flags.contains(.rejected) { name += " [rejected]"; categories.append("rejected") }
            if call.partial { name += " [partial]"; categories.append("partial") }
            if call.flags.contains(.afterRecovery) { categories.append("after_recovery") }
            var args: [(String, Arg)] = [("seq", .uint(call.seq)), ("function", .uint(UInt64(call.function)))]
            if let n = functionName(call.function) { args.append(("function_name", .string(n))) }
            args += [("status", .int(Int64(call.status))), ("request_size", .uint(UInt64(call.requestSize))),
                     ("response_size", .uint(UInt64(call.responseSize))), ("client_pid", .int(Int64(call.clientPID))),
                     ("client_tid", .int(Int64(call.clientTID))), ("epoch", .uint(UInt64(call.epoch))),
                     ("latency_ns", .uint(done - call.sentNS)), ("queued_ns", .uint(start - call.sentNS)),
                     ("service_ns", .uint(done - start)), ("rejected", .bool(call.flags.contains(.rejected))),
                     ("partial", .bool(call.partial)), ("after_recovery", .bool(call.flags.contains(.afterRecovery)))]
            flow += 1
            slices.append(Slice(track: track(for: call), startNS: call.sentNS, endNS: done, name: name, categories: categories,
                                args: args, flowOut: flow, flowIn: nil))
            slices.append(Slice(track: Timeline.serverTrack, startNS: start, endNS: done, name: name, categories: categories,
                                args: args, flowOut: nil, flowIn: flow))
        }
    }
}

// MARK: - Perfetto: TracePacket protobuf

extension Timeline {
    // Field numbers of perfetto's protos/perfetto/trace/trace_packet.proto, track_event/*.proto
    // and clock_snapshot.proto.
    private enum F {
        static let tracePacket = 1                 // Trace.packet
        static let timestamp = 8, clockSnapshot = 6, sequenceID = 10, sequenceFlags = 13
        static let trackEvent = 11, trackDescriptor = 60, timestampClockID = 58
        // ClockSnapshot, ClockSnapshot.Clock
        static let clocks = 1, primaryTraceClock = 2, clockID = 1, clockTimestamp = 2
        // TrackDescriptor, ProcessDescriptor, ThreadDescriptor
        static let uuid = 1, name = 2, process = 3, thread = 4, parentUUID = 5
        static let pid = 1, processName = 6, tid = 2, threadName = 5
        // TrackEvent
        static let debugAnnotations = 4, type = 9, trackUUID = 11, categories = 22, eventName = 23
        static let flowIDs = 47, terminatingFlowIDs = 48
        // DebugAnnotation
        static let boolValue = 2, uintValue = 3, intValue = 4, stringValue = 6, annotationName = 10
    }
    /// BUILTIN_CLOCK_MONOTONIC: the recording's times.
    private static let monotonicClock: UInt64 = 3
    /// TrackEvent.Type
    private static let sliceBegin: UInt64 = 1, sliceEnd: UInt64 = 2, instant: UInt64 = 3
    /// TracePacket.SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED
    private static let incrementalStateCleared: UInt64 = 1
    private static let sequence: UInt64 = 1

    /// The timeline as a Perfetto trace file (a `Trace` message: a sequence of `TracePacket`s).
    package var perfettoTrace: [UInt8] {
        var out = ProtoWriter()
        let first = min(slices.map(\.startNS).min() ?? 0, instants.map(\.ns).min() ?? .max)
        // CLOCK_MONOTONIC is the trace's own clock: no conversion from another one is needed.
        out.message(F.tracePacket) { p in
            p.uint(F.timestamp, first)
            p.uint(F.timestampClockID, Timeline.monotonicClock)
            p.message(F.clockSnapshot) { c in
                c.message(F.clocks) { k in
                    k.uint(F.clockID, Timeline.monotonicClock)
                    k.uint(F.clockTimestamp, first)
                }
                c.uint(F.primaryTraceClock, Timeline.monotonicClock)
            }
            p.uint(F.sequenceID, Timeline.sequence)
            p.uint(F.sequenceFlags, Timeline.incrementalStateCleared)
        }
        for t in tracks {
            out.message(F.tracePacket) { p in
                p.uint(F.sequenceID, Timeline.sequence)
                p.message(F.trackDescriptor) { d in
                    d.uint(F.uuid, t.uuid)
                    if let parent = t.parent { d.uint(F.parentUUID, parent) }
                    switch t.kind {
                    case .server, .threadNotRecorded:
                        d.string(F.name, t.name)
                    case .process(let pid):
                        d.message(F.process) { pd in
                            pd.int(F.pid, Int64(pid))
                            pd.string(F.processName, t.name)
                        }
                    case .thread(let pid, let tid):
                        d.message(F.thread) { td in
                            td.int(F.pid, Int64(pid))
                            td.int(F.tid, Int64(tid))
                            td.string(F.threadName, t.name)
                        }
                    }
                }
            }
        }
        // Events in time order; at one instant an end before a begin (adjacent slices on a track).
        var events: [(ns: UInt64, order: Int, write: (inout ProtoWriter) -> Void)] = []
        for s in slices {
            events.append((s.startNS, 1, { e in
                e.uint(F.type, Timeline.sliceBegin)
                e.uint(F.trackUUID, s.track)
                for c in s.categories { e.string(F.categories, c) }
                e.string(F.eventName, s.name)
                for (k, v) in s.args { Timeline.annotation(&e, k, v) }
                if let f = s.flowOut { e.fixed64(F.flowIDs, f) }
                if let f = s.flowIn { e.fixed64(F.terminatingFlowIDs, f) }
            }))
            events.append((s.endNS, 0, { e in
                e.uint(F.type, Timeline.sliceEnd)
                e.uint(F.trackUUID, s.track)
            }))
        }
        for i in instants {
            events.append((i.ns, 2, { e in
                e.uint(F.type, Timeline.instant)
                e.uint(F.trackUUID, i.track)
                e.string(F.categories, "server")
                e.string(F.eventName, i.name)
                for (k, v) in i.args { Timeline.annotation(&e, k, v) }
            }))
        }
        events.sort { $0.ns != $1.ns ? $0.ns < $1.ns : $0.order < $1.order }
        for ev in events {
            out.message(F.tracePacket) { p in
                p.uint(F.timestamp, ev.ns)
                p.uint(F.timestampClockID, Timeline.monotonicClock)
                p.uint(F.sequenceID, Timeline.sequence)
                p.message(F.trackEvent) { e in ev.write(&e) }
            }
        }
        return out.bytes
    }

    private static func annotation(_ e: inout ProtoWriter, _ name: String, _ v: Arg) {
        e.message(F.debugAnnotations) { a in
            a.string(F.annotationName, name)
            switch v {
            case .int(let x): a.int(F.intValue, x)
            case .uint(let x): a.uint(F.uintValue, x)
            case .string(let s): a.string(F.stringValue, s)
            case .bool(let b): a.bool(F.boolValue, b)
            }
        }
    }
}

// MARK: - Chrome trace-event JSON

extension Timeline {
    /// The timeline in Chrome's trace-event format (`{"traceEvents":[...]}`): complete events
    /// (`ph` X) with `ts` and `dur` in microseconds, flow events (`ph` s and f, bound by `id`;
    /// the f event to its enclosing slice, `bp` e), instant events (`ph` i) and the
    /// process and thread names as metadata (`ph` M). The server is pid 0, tid 0; a client's
    /// calls whose thread was not recorded are on its tid 0.
    package var chromeJSON: String {
        func us(_ ns: UInt64) -> JSON { .double(Double(ns) / 1000) }
        func args(_ a: [(String, Arg)]) -> JSON {
            .object(a.map { k, v in
                switch v {
                case .int(let x): (k, .int(x))
                case .uint(let x): (k, .uint(x))
                case .string(let s): (k, .string(s))
                case .bool(let b): (k, .bool(b))
                }
            })
        }
        var ids: [UInt64: (pid: Int32, tid: Int32)] = [:]
        var events: [JSON] = []
        func meta(_ name: String, _ pid: Int32, _ tid: Int32?, _ value: JSON, key: String = "name") {
            var o: [(String, JSON)] = [("ph", .string("M")), ("name", .string(name)), ("pid", .number(pid))]
            if let tid { o.append(("tid", .number(tid))) }
            o.append(("args", .object([(key, value)])))
            events.append(.object(o))
        }
        for t in tracks {
            switch t.kind {
            case .server:
                ids[t.uuid] = (0, 0)
                meta("process_name", 0, nil, .string(t.name))
                meta("process_sort_index", 0, nil, .int(-1), key: "sort_index")
                meta("thread_name", 0, 0, .string("server"))
            case .process(let pid):
                meta("process_name", pid, nil, .string(t.name))
            case .thread(let pid, let tid):
                ids[t.uuid] = (pid, tid)
                meta("thread_name", pid, tid, .string(t.name))
            case .threadNotRecorded(let pid):
                ids[t.uuid] = (pid, 0)
                meta("thread_name", pid, 0, .string(t.name))
            }
        }
        for s in slices {
            let (pid, tid) = ids[s.track] ?? (0, 0)
            events.append(.object([("ph", .string("X")), ("name", .string(s.name)), ("cat", .string(s.categories.joined(separator: ","))),
                                   ("ts", us(s.startNS)), ("dur", us(s.endNS - s.startNS)), ("pid", .number(pid)), ("tid", .number(tid)),
                                   ("args", args(s.args))]))
            if let f = s.flowOut {
                events.append(.object([("ph", .string("s")), ("name", .string("call")), ("cat", .string("flow")), ("id", .uint(f)),
                                       ("ts", us(s.startNS)), ("pid", .number(pid)), ("tid", .number(tid))]))
            }
            if let f = s.flowIn {
                events.append(.object([("ph", .string("f")), ("bp", .string("e")), ("name", .string("call")), ("cat", .string("flow")),
                                       ("id", .uint(f)), ("ts", us(s.startNS)), ("pid", .number(pid)), ("tid", .number(tid))]))
            }
        }
        for i in instants {
            let (pid, tid) = ids[i.track] ?? (0, 0)
            events.append(.object([("ph", .string("i")), ("s", .string("p")), ("name", .string(i.name)), ("cat", .string("server")),
                                   ("ts", us(i.ns)), ("pid", .number(pid)), ("tid", .number(tid)), ("args", args(i.args))]))
        }
        return JSON.object([("displayTimeUnit", .string("ns")), ("traceEvents", .array(events))]).rendered
    }
}
