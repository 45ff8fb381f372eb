import CIPCScope

/// `server_flags` bit 3 (format amendment 2): the section is served by a Windows NT program, whose
/// client mutex and events are named NT objects beside the section (the pthread mutex bytes and
/// the futex words are not what it waits on). Readers show such a section as usual; a Linux client
/// must not call it.
public let serverFlagNTObjects = UInt32(IPCSCOPE_SERVER_NT_OBJECTS)

/// Where everything lives in a section of given capacities (format version 1).
public struct SectionLayout: Equatable, Sendable {
    /// Max request payload in bytes.
    public let requestCapacity: Int
    /// Max response payload in bytes.
    public let responseCapacity: Int
    /// Records in the trace ring (a power of two, or 0).
    public let traceCapacity: Int

    /// Checks the capacities against the format's limits.
    /// - Throws: `invalidArgument` when a capacity is out of range.
    public init(requestCapacity: Int = 4096, responseCapacity: Int = 4096, traceCapacity: Int = 256) throws(IPCError) {
        let maxCap = Int(IPCSCOPE_MAX_CAPACITY)
        guard (0...maxCap).contains(requestCapacity) else {
            throw IPCError(.invalidArgument, "request capacity \(requestCapacity) is out of range: use 0 to \(maxCap) bytes")
        }
        guard (0...maxCap).contains(responseCapacity) else {
            throw IPCError(.invalidArgument, "response capacity \(responseCapacity) is out of range: use 0 to \(maxCap) bytes")
        }
        guard traceCapacity == 0 || (traceCapacity > 0 && traceCapacity <= Int(IPCSCOPE_MAX_TRACE_CAPACITY)
                                      && traceCapacity & (traceCapacity - 1) == 0) else {
            throw IPCError(.invalidArgument, "trace capacity \(traceCapacity) must be 0 or a power of two up to \(IPCSCOPE_MAX_TRACE_CAPACITY)")
        }
        self.requestCapacity = requestCapacity
        self.responseCapacity = responseCapacity
        self.traceCapacity = traceCapacity
    }

    /// Offset of the request slot (always 512).
    public var requestOffset: Int { Int(ipcscope_request_offset()) }
    /// Offset of the response slot.
    public var responseOffset: Int { Int(ipcscope_response_offset(UInt32(requestCapacity))) }
    /// Offset of the trace ring, or 0 without one.
    public var traceOffset: Int {
        Int(ipcscope_trace_offset(UInt32(requestCapacity), UInt32(responseCapacity), UInt32(traceCapacity)))
    }
    /// Total size of the object, a multiple of 4096.
    public var sectionSize: Int {
        Int(ipcscope_section_size(UInt32(requestCapacity), UInt32(responseCapacity), UInt32(traceCapacity)))
    }
}

/// Header line 0 of a section, decoded from bytes read with `pread` and checked.
public struct SectionIdentity: Equatable, Sendable {
    /// Whether the first 8 bytes are the magic `IPCSCOPE` (the creator writes it last).
    public var magicOK: Bool
    /// The format version (1 for this implementation).
    public var version: UInt32
    /// `header_size`: bytes before the request slot (512 in version 1).
    public var headerSize: UInt32
    /// `section_size`: the object's size as its creator laid it out.
    public var sectionSize: UInt64
    /// `request_offset`: where the request slot starts.
    public var requestOffset: UInt32
    /// `request_capacity`: the most request payload bytes.
    public var requestCapacity: UInt32
    /// `response_offset`: where the response slot starts.
    public var responseOffset: UInt32
    /// `response_capacity`: the most response payload bytes.
    public var responseCapacity: UInt32
    /// `trace_offset`: where the trace ring starts (0 without one).
    public var traceOffset: UInt32
    /// `trace_capacity`: records in the trace ring (0 or a power of two).
    public var traceCapacity: UInt32
    /// `mutex_offset`: where the robust mutex lives (128 in version 1).
    public var mutexOffset: UInt32
    /// `creator_uid`: the effective uid of the process that created the section.
    public var creatorUID: UInt32
    /// `created_unix_ns`: when the section was created (CLOCK_REALTIME); tells a new section
    /// of the same name from the old one.
    public var createdUnixNS: UInt64

    /// Decodes the first 64 bytes of `bytes` (host byte order). Returns nil when fewer than 64.
    public init?(bytes: some RandomAccessCollection<UInt8>) {
        guard bytes.count >= 64 else { return nil }
        let b = Array(bytes.prefix(64))
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        magicOK = Array(b[0..<8]) == Array("IPCSCOPE".utf8)
        version = u32(8); headerSize = u32(12); sectionSize = u64(16)
        requestOffset = u32(24); requestCapacity = u32(28)
        responseOffset = u32(32); responseCapacity = u32(36)
        traceOffset = u32(40); traceCapacity = u32(44)
        mutexOffset = u32(48); creatorUID = u32(52); createdUnixNS = u64(56)
    }

    /// The layout these fields describe, if they are the format's own arithmetic.
    public var layout: SectionLayout? {
        // Every field is attacker-controlled: compare in the fields' own widths, never convert a
        // u64 from the section to Int (2^63 would trap).
        guard let l = try? SectionLayout(requestCapacity: Int(requestCapacity), responseCapacity: Int(responseCapacity),
                                         traceCapacity: Int(traceCapacity)) else { return nil }
        guard UInt64(l.requestOffset) == UInt64(requestOffset), UInt64(l.responseOffset) == UInt64(responseOffset),
              UInt64(l.traceOffset) == UInt64(traceOffset), UInt64(l.sectionSize) == sectionSize else { return nil }
        return l
    }

    /// Checks magic, version, sizes and offsets against the object's real size.
    /// - Throws: `corruptSection` or `incompatibleSection` with what is wrong and what to do.
    public func validate(objectSize: Int, service: String) throws(IPCError) -> SectionLayout {
        let fix = "remove it with 'ipcscope clean \(service)' or start the server with --replace"
        guard magicOK else {
            throw IPCError(.corruptSection, service: service,
                           "/dev/shm/ipcscope.\(service) is not an ipcscope section (bad magic): \(fix)")
        }
        guard version == IPCSCOPE_VERSION else {
            throw IPCError(.incompatibleSection, service: service,
                           "section '\(service)' is format version \(version), this build speaks version \(IPCSCOPE_VERSION): use a matching ipcscope or \(fix)")
        }
        guard headerSize == IPCSCOPE_HEADER_SIZE, mutexOffset == IPCSCOPE_MUTEX_OFFSET else {
            throw IPCError(.incompatibleSection, service: service,
                           "section '\(service)' has header size \(headerSize) and mutex offset \(mutexOffset), expected 512 and 128: \(fix)")
        }
        guard let layout else {
            throw IPCError(.corruptSection, service: service,
                           "section '\(service)' has inconsistent sizes (request \(requestCapacity) at \(requestOffset), response \(responseCapacity) at \(responseOffset), trace \(traceCapacity) at \(traceOffset), total \(sectionSize)): \(fix)")
        }
        guard objectSize >= 0, UInt64(layout.sectionSize) == UInt64(objectSize) else {
            throw IPCError(.corruptSection, service: service,
                           "section '\(service)' says it is \(sectionSize) bytes but the object is \(objectSize) (truncated?): \(fix)")
        }
        return layout
    }
}
