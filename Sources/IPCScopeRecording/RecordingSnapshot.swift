import CIPCScope
import IPCScopeKit
import IPCScopeObserve

/// Shows a recording in the inspector's panes (`ipcscope attach --file`): one call at a time
/// is put in the slots of a section image built in memory, with every recorded call in the
/// trace history. Nothing is opened; the image is a `Snapshot` like a live one.
package struct RecordingPlayback: Sendable {
    package let recording: Recording
    /// The call shown (an index into `recording.calls`).
    package private(set) var index = 0

    /// The section image's layout: the largest capacities the recording names or needs.
    let layout: SectionLayout

    /// - Throws: `RecordingError` when the recording holds no call.
    package init(_ recording: Recording) throws(RecordingError) {
        guard !recording.calls.isEmpty else { throw RecordingError("the recording holds no call") }
        self.recording = recording
        let maxCapacity = Int(IPCSCOPE_MAX_CAPACITY)
        var request = recording.interfaces.map { Int($0.requestCapacity) }.max() ?? 0
        var response = recording.interfaces.map { Int($0.responseCapacity) }.max() ?? 0
        for c in recording.calls {
            request = max(request, c.request.count)
            response = max(response, c.response.count)
        }
        var ring = 1
        while ring < recording.calls.count && ring < Int(IPCSCOPE_MAX_TRACE_CAPACITY) { ring *= 2 }
        do {
            layout = try SectionLayout(requestCapacity: min(request, maxCapacity), responseCapacity: min(response, maxCapacity),
                                       traceCapacity: ring)
        } catch {
            throw RecordingError(error.message)
        }
    }

    package var current: RecordedCall { recording.calls[index] }

    package mutating func next() { index = min(index + 1, recording.calls.count - 1) }
    package mutating func previous() { index = max(index - 1, 0) }

    /// Moves to the first call with sequence number `seq` (or the first after it); returns
    /// false, staying put, when no call has that number or a later one.
    @discardableResult
    package mutating func jump(toSeq seq: UInt64) -> Bool {
        if let i = recording.calls.firstIndex(where: { $0.seq == seq }) ?? recording.calls.firstIndex(where: { $0.seq > seq }) {
            index = i
            return true
        }
        return false
    }

    /// What the inspector's header says about the current call instead of a live server's state.
    package func header(file: String) -> RecordingHeader {
        let c = current
        let epochs = Set(recording.calls.map(\.epoch)).count
        return RecordingHeader(file: file, calls: recording.calls.count, index: index, epoch: c.epoch, epochs: epochs,
                               requestCapacity: layout.requestCapacity, responseCapacity: layout.responseCapacity)
    }

    /// One line for the footer: where we stand and the keys.
    package var statusLine: String {
        let c = current
        var s = " recording: call \(index + 1) of \(recording.calls.count), seq \(c.seq), function \(c.function), status \(c.status), epoch \(c.epoch)"
        if c.clientTID != 0 { s += ", client \(c.clientPID)/\(c.clientTID)" } else { s += ", client \(c.clientPID)" }
        if c.partial { s += ", PARTIAL" }
        return s + " | n next  p previous  g jump to seq  q quit"
    }

    /// The section image for the current call: RESPONSE_READY, both slots filled, the whole
    /// recording as trace history.
    package func snapshot(now: UInt64 = monotonicNanoseconds()) -> Snapshot {
        let c = current
        var b = [UInt8](repeating: 0, count: layout.responseOffset + Int(IPCSCOPE_RSP_DATA) + layout.responseCapacity)
        func put<T: FixedWidthInteger>(_ offset: Int, _ value: T) {
            Swift.withUnsafeBytes(of: value.littleEndian) { v in
                for (i, byte) in v.enumerated() where offset + i < b.count { b[offset + i] = byte }
            }
        }
        for (i, byte) in IPCSCOPE_MAGIC.utf8.enumerated() { b[i] = byte }
        put(Int(IPCSCOPE_OFF_VERSION), UInt32(IPCSCOPE_VERSION))
        put(Int(IPCSCOPE_OFF_HEADER_SIZE), UInt32(IPCSCOPE_HEADER_SIZE))
        put(Int(IPCSCOPE_OFF_SECTION_SIZE), UInt64(layout.sectionSize))
        put(Int(IPCSCOPE_OFF_REQUEST_OFFSET), UInt32(layout.requestOffset))
        put(Int(IPCSCOPE_OFF_REQUEST_CAPACITY), UInt32(layout.requestCapacity))
        put(Int(IPCSCOPE_OFF_RESPONSE_OFFSET), UInt32(layout.responseOffset))
        put(Int(IPCSCOPE_OFF_RESPONSE_CAPACITY), UInt32(layout.responseCapacity))
        put(Int(IPCSCOPE_OFF_TRACE_OFFSET), UInt32(layout.traceOffset))
        put(Int(IPCSCOPE_OFF_TRACE_CAPACITY), UInt32(layout.traceCapacity))
        put(Int(IPCSCOPE_OFF_MUTEX_OFFSET), UInt32(IPCSCOPE_MUTEX_OFFSET))
        put(Int(IPCSCOPE_OFF_SERVER_EPOCH), c.epoch)
        put(Int(IPCSCOPE_OFF_SERVER_FLAGS), UInt32(IPCSCOPE_SERVER_TRACING))
        put(Int(IPCSCOPE_OFF_CALLS_SERVED), UInt64(index + 1))
        put(Int(IPCSCOPE_OFF_LAST_SERVICE_NS), c.doneNS >= c.sentNS ? c.doneNS - c.sentNS : 0)
        put(Int(IPCSCOPE_OFF_TRACE_HEAD), UInt64(recording.calls.count))
        put(Int(IPCSCOPE_OFF_STATE), ProtocolState.responseReady.rawValue)
        put(Int(IPCSCOPE_OFF_STATE_SINCE_NS), c.doneNS)
        put(Int(IPCSCOPE_OFF_NEXT_SEQ), c.seq)
        let rq = layout.requestOffset, rs = layout.responseOffset
        put(rq + Int(IPCSCOPE_REQ_SEQ), c.seq)
        put(rq + Int(IPCSCOPE_REQ_CLIENT_PID), c.clientPID)
        put(rq + Int(IPCSCOPE_REQ_CLIENT_TID), c.clientTID)
        put(rq + Int(IPCSCOPE_REQ_FUNCTION), c.function)
        put(rq + Int(IPCSCOPE_REQ_SIZE), UInt32(min(Int(c.requestSize), layout.requestCapacity)))
        put(rq + Int(IPCSCOPE_REQ_SENT_NS), c.sentNS)
        for (i, byte) in c.request.prefix(layout.requestCapacity).enumerated() { b[rq + Int(IPCSCOPE_REQ_DATA) + i] = byte }
        put(rs + Int(IPCSCOPE_RSP_SEQ), c.seq)
        put(rs + Int(IPCSCOPE_RSP_STATUS), c.status)
        put(rs + Int(IPCSCOPE_RSP_SIZE), UInt32(min(Int(c.responseSize), layout.responseCapacity)))
        put(rs + Int(IPCSCOPE_RSP_DONE_NS), c.doneNS)
        for (i, byte) in c.response.prefix(layout.responseCapacity).enumerated() { b[rs + Int(IPCSCOPE_RSP_DATA) + i] = byte }

        var snap = Snapshot(service: recording.service ?? "recording", bytes: b, objectSize: layout.sectionSize,
                            serverAlive: false, takenNS: now)
        snap.trace = recording.calls.map(\.traceRecord)
        return snap
    }
}

/// The header of `attach --file`: what is shown is a file, not a live section.
package struct RecordingHeader: Sendable, Equatable {
    /// The file as given on the command line.
    package var file: String
    package var calls: Int
    /// The call shown (0-based).
    package var index: Int
    /// The server epoch the call was recorded under, and how many epochs the file spans.
    package var epoch: UInt32
    package var epochs: Int
    package var requestCapacity: Int
    package var responseCapacity: Int
    /// The server's pid when the recording holds it (pcapng and `watch --json` do not).
    package var serverPID: Int32?

    package init(file: String, calls: Int, index: Int, epoch: UInt32, epochs: Int, requestCapacity: Int, responseCapacity: Int,
                serverPID: Int32? = nil) {
        self.file = file
        self.calls = calls
        self.index = index
        self.epoch = epoch
        self.epochs = epochs
        self.requestCapacity = requestCapacity
        self.responseCapacity = responseCapacity
        self.serverPID = serverPID
    }
}
