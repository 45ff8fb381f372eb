// Section images for tests: bytes laid out as the section format says, built field by field,
// to be decoded by the real readers or planted in /dev/shm as hostile objects.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve

/// The 512-byte header of a valid default-layout section (28672 bytes) created by this user.
public func validSectionHeader() -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 512)
    func put32(_ o: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { h[o + i] = b } } }
    func put64(_ o: Int, _ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { h[o + i] = b } } }
    for (i, b) in "IPCSCOPE".utf8.enumerated() { h[i] = b }
    put32(8, 1); put32(12, 512); put64(16, 28672)
    put32(24, 512); put32(28, 4096); put32(32, 4672); put32(36, 4096)
    put32(40, 8832); put32(44, 256); put32(48, 128); put32(52, geteuid())
    return h
}

/// A section's bytes, built field by field.
public struct SectionBytes {
    public var bytes: [UInt8]
    public let layout: SectionLayout

    public init(requestCapacity: Int = 4096, responseCapacity: Int = 4096, traceCapacity: Int = 256) {
        layout = try! SectionLayout(requestCapacity: requestCapacity, responseCapacity: responseCapacity, traceCapacity: traceCapacity)
        bytes = Array(repeating: 0, count: layout.sectionSize)
        bytes.replaceSubrange(0..<8, with: Array("IPCSCOPE".utf8))
        set32(Int(IPCSCOPE_OFF_VERSION), 1)
        set32(Int(IPCSCOPE_OFF_HEADER_SIZE), 512)
        set64(Int(IPCSCOPE_OFF_SECTION_SIZE), UInt64(layout.sectionSize))
        set32(Int(IPCSCOPE_OFF_REQUEST_OFFSET), UInt32(layout.requestOffset))
        set32(Int(IPCSCOPE_OFF_REQUEST_CAPACITY), UInt32(requestCapacity))
        set32(Int(IPCSCOPE_OFF_RESPONSE_OFFSET), UInt32(layout.responseOffset))
        set32(Int(IPCSCOPE_OFF_RESPONSE_CAPACITY), UInt32(responseCapacity))
        set32(Int(IPCSCOPE_OFF_TRACE_OFFSET), UInt32(layout.traceOffset))
        set32(Int(IPCSCOPE_OFF_TRACE_CAPACITY), UInt32(traceCapacity))
        set32(Int(IPCSCOPE_OFF_MUTEX_OFFSET), 128)
        set32(Int(IPCSCOPE_OFF_CREATOR_UID), 1000)
        set64(Int(IPCSCOPE_OFF_CREATED_UNIX_NS), 1_700_000_000_000_000_000)
    }

    public mutating func set32(_ o: Int, _ v: UInt32) {
        for i in 0..<4 { bytes[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) }
    }
    public mutating func set64(_ o: Int, _ v: UInt64) {
        for i in 0..<8 { bytes[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xff) }
    }
    public mutating func seti32(_ o: Int, _ v: Int32) { set32(o, UInt32(bitPattern: v)) }

    /// A server: pid, epoch, heartbeat, counters.
    public mutating func server(pid: Int32 = 4242, epoch: UInt32 = 1, heartbeat: UInt64 = 9_000_000_000, served: UInt64 = 7) {
        seti32(Int(IPCSCOPE_OFF_SERVER_PID), pid)
        set32(Int(IPCSCOPE_OFF_SERVER_EPOCH), epoch)
        set64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), heartbeat)
        set32(Int(IPCSCOPE_OFF_SERVER_FLAGS), UInt32(IPCSCOPE_SERVER_TRACING))
        set64(Int(IPCSCOPE_OFF_CALLS_SERVED), served)
        set64(Int(IPCSCOPE_OFF_LAST_SERVICE_NS), 12_300)
        set64(Int(IPCSCOPE_OFF_NEXT_SEQ), served)
        set64(Int(IPCSCOPE_OFF_LOCK_COUNT), served)
    }

    public mutating func state(_ s: UInt32, since: UInt64 = 8_000_000_000) {
        set32(Int(IPCSCOPE_OFF_STATE), s)
        set64(Int(IPCSCOPE_OFF_STATE_SINCE_NS), since)
    }

    /// The mutex word and the owner record.
    public mutating func mutex(word: UInt32, ownerPID: Int32, ownerTID: Int32, since: UInt64 = 7_500_000_000) {
        set32(Int(IPCSCOPE_OFF_MUTEX), word)
        seti32(Int(IPCSCOPE_OFF_OWNER_PID), ownerPID)
        seti32(Int(IPCSCOPE_OFF_OWNER_TID), ownerTID)
        set64(Int(IPCSCOPE_OFF_OWNER_SINCE_NS), since)
    }

    public mutating func request(seq: UInt64, function: UInt32, payload: [UInt8], client: Int32 = 777, sizeOverride: UInt32? = nil) {
        let o = layout.requestOffset
        set64(o, seq)
        seti32(o + 8, client)
        seti32(o + 12, client)
        set32(o + 16, function)
        set32(o + 20, sizeOverride ?? UInt32(payload.count))
        set64(o + 24, 8_999_000_000)
        bytes.replaceSubrange((o + 64)..<(o + 64 + payload.count), with: payload)
    }

    public mutating func response(seq: UInt64, status: Int32, payload: [UInt8]) {
        let o = layout.responseOffset
        set64(o, seq)
        seti32(o + 8, status)
        set32(o + 12, UInt32(payload.count))
        set64(o + 16, 8_999_050_000)
        bytes.replaceSubrange((o + 64)..<(o + 64 + payload.count), with: payload)
    }

    package func snapshot(service: String = "Demo", alive: Bool = true, taken: UInt64 = 10_000_000_000) -> Snapshot {
        Snapshot(service: service, bytes: bytes, objectSize: layout.sectionSize, ownerUID: 1000, mode: 0o600,
                 serverAlive: alive, takenNS: taken)
    }
}

/// A trace record for in-memory snapshots (the decoder of the ring lives in SectionReader).
package func record(_ seq: UInt64, fn: UInt32 = 1, status: Int32 = 0, payload: String = "hello", client: Int32 = 777,
            sent: UInt64 = 9_000_000_000, latency: UInt64 = 25_000) -> TraceRecord {
    let p = Array(payload.utf8)
    return TraceRecord(seq: seq, function: fn, status: status, requestSize: UInt32(p.count), responseSize: UInt32(p.count),
                       clientPID: client, flags: 0, sentNS: sent, doneNS: sent + latency,
                       requestHead: Array((p + Array(repeating: 0, count: 16)).prefix(16)))
}

/// Writes an object by hand: `bytes` of content in an object of `size` bytes.
public func plantSection(_ name: String, bytes: [UInt8], size: Int) {
    let fd = shm_open("/ipcscope." + name, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0)
    ftruncate(fd, off_t(size))
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    close(fd)
}
