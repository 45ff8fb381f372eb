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
