/// The calls seen so far: trace records merged across snapshots by `seq`, with an honest
/// count of what was not seen, and the whole payloads of the calls seen whole.
///
/// A trace record keeps only a request's first 16 bytes. The request and response slots hold
/// whole payloads, but only until the next call: every snapshot's slots are copied here by
/// `seq`, and a call counts as seen whole once its record arrives and agrees with them (sizes,
/// status, first bytes). `limit` bounds both the records and the payloads kept.
///
/// `missed` counts records the server wrote (by `trace_head`) that no snapshot could read
/// intact before the ring overwrote them; `tornReads` counts records found mid-rewrite in
/// some snapshot (most are read intact by the next one). Both restart with a new server.
import IPCScopeObserve
package struct History: Sendable {
    /// Records in `seq` order, oldest first, at most `limit` of them.
    package private(set) var records: [TraceRecord] = []
    /// How many calls to keep (`attach --history N`).
    package var limit = History.defaultLimit
    /// The default `limit`.
    package static let defaultLimit = 1000
    /// Distinct records accepted since attaching (or since the server restarted).
    package private(set) var accepted: UInt64 = 0
    /// Records written since attaching that were never read intact.
    package private(set) var missed: UInt64 = 0
    /// Trace records found torn (seq changed during the copy), summed over snapshots.
    package private(set) var tornReads: UInt64 = 0
    /// Snapshots that had at least one torn record or an inconsistent field.
    package private(set) var tornSnapshots: UInt64 = 0
    private var baseHead: UInt64?
    private var lastSeq: UInt64 = 0
    /// Payloads copied from the slots, by seq (checked against the record before use).
    private var bodies: [UInt64: CallBodies] = [:]

    /// A call's payloads as copied from the slots.
    package struct CallBodies: Sendable, Equatable {
        package var request: [UInt8]?
        package var response: [UInt8]?
        package var status: Int32?
        package init(request: [UInt8]? = nil, response: [UInt8]? = nil, status: Int32? = nil) {
            self.request = request
            self.response = response
            self.status = status
        }
    }

    package init(limit: Int = History.defaultLimit) { self.limit = max(1, limit) }

    /// The whole request and response of `r`, when both were copied from the slots and agree with
    /// the record (sizes, status, first bytes); nil when only the record's first bytes are known.
    package func whole(_ r: TraceRecord) -> (request: [UInt8], response: [UInt8])? {
        guard let b = bodies[r.seq], let rq = b.request, let rs = b.response,
              rq.count == Int(r.requestSize), rs.count == Int(r.responseSize), b.status == r.status,
              rq.prefix(16).elementsEqual(r.requestHead.prefix(min(16, rq.count)))
        else { return nil }
        return (rq, rs)
    }

    /// How many kept calls are known whole.
    package var wholeCount: Int {
        // Over the payloads kept (few: only calls seen in the slots), not over every record.
        bodies.keys.reduce(0) { n, seq in n + (record(seq: seq).flatMap(whole) != nil ? 1 : 0) }
    }

    /// The kept record with `seq`, if any.
    package func record(seq: UInt64) -> TraceRecord? {
        guard let i = insertionIndex(seq), records.indices.contains(i), records[i].seq == seq else { return nil }
        return records[i]
    }

    /// Adds payloads known from elsewhere (the client pane's own calls).
    package mutating func addBodies(seq: UInt64, _ b: CallBodies) {
        guard seq != 0 else { return }
        var cur = bodies[seq] ?? CallBodies()
        if let rq = b.request { cur.request = rq }
        if let rs = b.response { cur.response = rs; cur.status = b.status }
        bodies[seq] = cur
        pruneBodies()
    }

    /// Copies the slots of `snap` (the request and the response, each under its own seq).
    ///
    /// A slot is copied only when nobody may be writing it, and only when `state` and both
    /// `seq`s read the same after the copy (`slotsSettled`): the request while the server owns
    /// it (REQUEST_READY, PROCESSING) or while its own client, still holding the mutex, collects
    /// the answer (RESPONSE_READY for that seq), or when the mutex stayed free and untaken
    /// through the copy (`mutexQuiet`); the response whenever no handler runs (not
    /// PROCESSING). A client writes the request slot only while IDLE or RESPONSE_READY, holding
    /// the mutex; the server writes the response only while PROCESSING; each publishes `seq` last.
    private mutating func captureSlots(_ snap: Snapshot) {
        guard let l = snap.layout, snap.slotsSettled, let state = snap.state else { return }
        let ownerCollects = state == .responseReady && snap.requestSeq == snap.responseSeq
            && snap.mutexWord.ownerTID != 0 && snap.mutexWord.ownerTID == snap.requestClientTID
        // IDLE or RESPONSE_READY with a mutex nobody took during the copy: no client was writing.
        let quiet = (state == .idle || state == .responseReady) && snap.mutexQuiet
        if state == .requestReady || state == .processing || ownerCollects || quiet, snap.requestSeq != 0, Int(snap.requestSize) <= l.requestCapacity, recent(snap.requestSeq) {
            let p = snap.requestPayload
            if p.count == Int(snap.requestSize), bodies[snap.requestSeq]?.request != p {
                bodies[snap.requestSeq, default: CallBodies()].request = p
            }
        }
        if state != .processing, snap.responseSeq != 0, Int(snap.responseSize) <= l.responseCapacity, recent(snap.responseSeq) {
            let p = snap.responsePayload
            if p.count == Int(snap.responseSize) {
                bodies[snap.responseSeq, default: CallBodies()].response = p
                bodies[snap.responseSeq]?.status = snap.responseStatus
            }
        }
    }

    /// Whether `seq` is new enough to be kept (no arithmetic on the section's values can trap).
    private func recent(_ seq: UInt64) -> Bool { seq >= lastSeq || lastSeq - seq < UInt64(limit) }

    /// Keeps payloads only for calls still kept, or newer (their record has not arrived yet).
    private mutating func pruneBodies() {
        guard bodies.count > limit + 64 else { return }
        let oldest = records.first?.seq ?? 0
        bodies = bodies.filter { $0.key >= oldest }
        if bodies.count > limit + 64 {
            let keep = Set(bodies.keys.sorted().suffix(limit))
            bodies = bodies.filter { keep.contains($0.key) }
        }
    }

    /// Merges the trace records of `snap`; returns the records accepted now (not seen before),
    /// in `seq` order.
    @discardableResult
    package mutating func ingest(_ snap: Snapshot) -> [TraceRecord] {
        guard let l = snap.layout else { return [] }
        let head = snap.traceHead
        if baseHead == nil || head < (baseHead ?? 0) {
            // The ring as found at attach: everything still in it counts as readable.
            self = History(limit: limit, keepCounters: baseHead == nil ? nil : self)
            baseHead = head > UInt64(l.traceCapacity) ? head - UInt64(l.traceCapacity) : 0
        }
        captureSlots(snap)
        if snap.tornRecords > 0 { tornReads += UInt64(snap.tornRecords) }
        if snap.tornRecords > 0 || !snap.problems.isEmpty { tornSnapshots += 1 }
        var new: [TraceRecord] = []
        for r in snap.trace {
            if r.seq > lastSeq {
                records.append(r)
                lastSeq = r.seq
                accepted += 1
                new.append(r)
            } else if let i = insertionIndex(r.seq), records.indices.contains(i) ? records[i].seq != r.seq : true {
                if i > 0 || records.count < limit {
                    records.insert(r, at: i)
                    accepted += 1
                    new.append(r)
                }
            }
        }
        if records.count > limit { records.removeFirst(records.count - limit) }
        pruneBodies()
        let written = head - (baseHead ?? 0)
        let pending = UInt64(snap.tornRecords)
        missed = written > accepted + pending ? written - accepted - pending : 0
        return new.sorted { $0.seq < $1.seq }
    }

    private init(limit: Int, keepCounters old: History?) {
        self.limit = limit
        if let old {
            tornReads = old.tornReads
            tornSnapshots = old.tornSnapshots
        }
    }

    /// Where a record with `seq` belongs in `records` (binary search).
    private func insertionIndex(_ seq: UInt64) -> Int? {
        var lo = 0, hi = records.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if records[mid].seq < seq { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Forgets everything (a new server or object).
    package mutating func reset() {
        self = History(limit: limit, keepCounters: nil)
        bodies = [:]
    }
}

/// The history filter typed after `/`: space-separated terms that must ALL hold
/// (breakpoints take the same terms but stop a call when ANY holds).
///
/// `fn=3`, `fn!=3`, `status=0`, `status!=0` (also `st`), `pid=123`, `size>100`, `lat>1ms`,
/// `>=` and `<=` too; `/text/` and `hex=4865` (the first bytes contain them); any other word
/// must appear in the first bytes (as text, or as hex like `4865`). See `parseCallTerm`.
package struct HistoryFilter: Sendable, Equatable {
    package let text: String
    /// The parsed terms, all of which must hold.
    package let terms: [CallTerm]
    /// Terms that could not be read (only with `init(_:)`, which keeps going); each is
    /// matched as a plain word instead.
    package let problems: [CallFilterError]

    /// What to show where the filter is typed.
    package static let syntaxHint = "all must hold: fn=1 status!=0 pid=42 size>100 lat>1ms /text/ hex=4865 word"

    /// Parses `text`, refusing it when any term cannot be read (`fn=abc`, `lat>1e300s`).
    /// - Throws: `CallFilterError` naming the first bad term and what it should look like.
    package init(parsing text: String) throws(CallFilterError) {
        self.text = text
        terms = try parseCallTerms(text)
        problems = []
    }

    /// Parses `text` leniently: a term that cannot be read is listed in `problems` and
    /// searched as a plain word. Prefer `init(parsing:)` for text a person typed.
    package init(_ text: String) {
        self.text = text
        var terms: [CallTerm] = [], problems: [CallFilterError] = []
        let words = String(text.prefix(CallFilterLimits.maxTextLength)).split(separator: " ").prefix(CallFilterLimits.maxTerms)
        for word in words {
            do throws(CallFilterError) {
                terms.append(try parseCallTerm(String(word)))
            } catch {
                problems.append(error)
                terms.append(.word(String(word)))
            }
        }
        self.terms = terms
        self.problems = problems
    }

    /// Whether `r` passes every term.
    package func matches(_ r: TraceRecord) -> Bool {
        let head = Array(r.requestHead.prefix(Int(min(r.requestSize, 16))))
        for t in terms {
            switch t {
            case .compare(let f, let op, let v):
                let x: Int64 = switch f {
                case .function: Int64(r.function)
                case .status: Int64(r.status)
                case .pid: Int64(r.clientPID)
                case .size: Int64(r.requestSize)
                case .latency: Int64(clamping: r.latencyNS)
                }
                if !op.holds(x, v) { return false }
            case .contains(let bytes):
                if !payloadContains(head, bytes) { return false }
            case .word(let s):
                if !wordMatches(head, s) { return false }
            }
        }
        return true
    }
}

/// Whether `payload` holds `needle` as a run of bytes (an empty needle is everywhere).
func payloadContains(_ payload: [UInt8], _ needle: [UInt8]) -> Bool {
    if needle.isEmpty { return true }
    guard payload.count >= needle.count else { return false }
    for i in 0...(payload.count - needle.count) where payload[i] == needle[0] {
        if payload[i..<(i + needle.count)].elementsEqual(needle) { return true }
    }
    return false
}

/// A bare word's test: the payload shows it as text, or its hex digits contain it.
func wordMatches(_ payload: [UInt8], _ word: String) -> Bool {
    HexDump.printable(payload).contains(word) || payload.map(HexDump.hex2).joined().contains(word.lowercased())
}
