import CIPCScope
import IPCScopeObserve

extension RecordedCall {
    /// The call as the trace ring holds it: the flags back as trace bits, and the request's first
    /// 16 bytes (zero-padded) as its head. For the views that show trace records (the inspector's
    /// history of a recording, `watch`'s call lines).
    package var traceRecord: TraceRecord {
        var bits: UInt32 = 0
        if flags.contains(.rejected) { bits |= UInt32(IPCSCOPE_TRACE_REJECTED) }
        if flags.contains(.afterRecovery) { bits |= UInt32(IPCSCOPE_TRACE_AFTER_RECOVERY) }
        var head = Array(request.prefix(16))
        head += [UInt8](repeating: 0, count: 16 - head.count)
        return TraceRecord(seq: seq, function: function, status: status, requestSize: requestSize,
                           responseSize: responseSize, clientPID: clientPID, flags: bits,
                           sentNS: sentNS, doneNS: doneNS, requestHead: head)
    }
}

extension RecordedCall {
    /// A call from its trace record and the payloads copied for it: a payload of the wrong size
    /// (or none) makes the call partial, its request then the trace's first bytes.
    package init(trace r: TraceRecord, request copied: [UInt8]?, response copiedResponse: [UInt8]?, clientTID: Int32 = 0,
                 epoch: UInt32) {
        var flags: RecordedCall.Flags = []
        if r.rejected { flags.insert(.rejected) }
        if r.afterRecovery { flags.insert(.afterRecovery) }
        var request: [UInt8] = []
        if !r.rejected && r.requestSize > 0 {
            if let q = copied, q.count == Int(r.requestSize) {
                request = q
            } else {
                request = Array(r.requestHead.prefix(Int(min(r.requestSize, 16))))
                flags.insert(.partial)
            }
        }
        var response: [UInt8] = []
        if r.responseSize > 0 {
            if let s = copiedResponse, s.count == Int(r.responseSize) { response = s } else { flags.insert(.partial) }
        }
        self.init(seq: r.seq, function: r.function, status: r.status, requestSize: r.requestSize,
                  responseSize: r.responseSize, clientPID: r.clientPID, clientTID: clientTID,
                  epoch: epoch, flags: flags, sentNS: r.sentNS, doneNS: r.doneNS,
                  request: request, response: response)
    }
}
