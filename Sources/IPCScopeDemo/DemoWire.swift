// The C structs `put` and `get` take and answer, packed and read by hand (little-endian, as
// GCC and Clang lay them out on Linux), so the schema in demo/schemas/demo.yaml is checked
// against code that does not use it.

// MARK: - put

/// The flags of a `put` (`uint8_t flags`): bit 0 `if_absent`, bit 1 `add`.
package struct DemoPutFlags: OptionSet, Sendable, Hashable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Store only when the key is new; an existing key is kept (result `kept`).
    package static let ifAbsent = DemoPutFlags(rawValue: 1 << 0)
    /// Add the value to the stored one (a counter) instead of replacing it.
    package static let add = DemoPutFlags(rawValue: 1 << 1)
    /// Every flag the demo knows: another bit makes the request malformed.
    package static let known: DemoPutFlags = [.ifAbsent, .add]
}

/// What a `put` did (`uint8_t result`, `enum demo_put_result`).
package enum DemoPutResult: UInt8, Sendable {
    case created = 0
    case replaced = 1
    case added = 2
    case kept = 3
}

/// The request of `put`:
///
///     struct demo_put_req {
///         char     key[16];   /*  0: NUL-terminated, 1 to 15 bytes */
///         uint8_t  flags;     /* 16: enum demo_put_flags */
///                             /* 17: 7 bytes of padding: value sits on an 8-byte boundary */
///         int64_t  value;     /* 24 */
///     };                      /* sizeof 32 */
package struct DemoPutRequest: Equatable, Sendable {
    /// `sizeof(struct demo_put_req)`.
    package static let size = 32
    /// The key's bytes (1 to 15; a longer key is cut when encoded).
    package var key: [UInt8]
    package var flags: DemoPutFlags
    package var value: Int64

    /// A request for `key` (UTF-8).

    package init(key: String, flags: DemoPutFlags = [], value: Int64) {
        self.key = Array(key.utf8)
        self.flags = flags
        self.value = value
    }

    /// The 32 bytes, padding zeroed (a key longer than 15 bytes is cut: the NUL must fit).
    package func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        putKey(key, into: &out)
        out[16] = flags.rawValue
        putLE(UInt64(bitPattern: value), at: 24, into: &out)
        return out
    }

    /// Reads a request; nil when it is not 32 bytes, its key is empty or not NUL-terminated,
    /// or it sets a flag the demo does not know. The padding is not looked at (C leaves it
    /// undefined).
    package static func decode(_ bytes: some Collection<UInt8>) -> DemoPutRequest? {
        let b = Array(bytes)
        guard b.count == size, let key = readKey(b[0..<16]) else { return nil }
        let flags = DemoPutFlags(rawValue: b[16])
        guard DemoPutFlags.known.isSuperset(of: flags) else { return nil }
        var r = DemoPutRequest(key: "", flags: flags, value: Int64(bitPattern: readLE(b, at: 24)))
        r.key = key
        return r
    }
}

/// The answer of `put`:
///
///     struct demo_put_rsp {
///         int64_t  previous;  /*  0: the value before this put (0 when created) */
///         uint32_t version;   /*  8: puts of this key so far */
///         uint8_t  result;    /* 12: enum demo_put_result */
///     };                      /* sizeof 16: 3 bytes of padding at the end */
package struct DemoPutAnswer: Equatable, Sendable {
    /// `sizeof(struct demo_put_rsp)`.
    package static let size = 16
    package var previous: Int64
    package var version: UInt32
    package var result: DemoPutResult

    package init(previous: Int64, version: UInt32, result: DemoPutResult) {
        self.previous = previous
        self.version = version
        self.result = result
    }

    /// The 16 bytes, padding zeroed.
    package func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        putLE(UInt64(bitPattern: previous), at: 0, into: &out)
        putLE32(version, at: 8, into: &out)
        out[12] = result.rawValue
        return out
    }

    /// Reads an answer; nil when it is not 16 bytes or its result has no name.
    package static func decode(_ bytes: some Collection<UInt8>) -> DemoPutAnswer? {
        let b = Array(bytes)
        guard b.count == size, let result = DemoPutResult(rawValue: b[12]) else { return nil }
        return DemoPutAnswer(previous: Int64(bitPattern: readLE(b, at: 0)), version: readLE32(b, at: 8), result: result)
    }
}

// MARK: - get

/// The request of `get`: `struct demo_get_req { char key[16]; };` (16 bytes).
package struct DemoGetRequest: Equatable, Sendable {
    /// `sizeof(struct demo_get_req)`.
    package static let size = 16
    /// The key's bytes (1 to 15; a longer key is cut when encoded).
    package var key: [UInt8]

    /// A request for `key` (UTF-8).
    package init(key: String) { self.key = Array(key.utf8) }

    /// The 16 bytes: the key, NUL-padded.
    package func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        putKey(key, into: &out)
        return out
    }

    /// Reads a request; nil when it is not 16 bytes or its key is empty or not NUL-terminated.
    package static func decode(_ bytes: some Collection<UInt8>) -> DemoGetRequest? {
        let b = Array(bytes)
        guard b.count == size, let key = readKey(b[0..<16]) else { return nil }
        var r = DemoGetRequest(key: "")
        r.key = key
        return r
    }
}

/// The answer of `get`:
///
///     struct demo_get_rsp {
///         int64_t  value;     /*  0 */
///         uint32_t version;   /*  8: puts of this key so far */
///         uint8_t  last;      /* 12: enum demo_put_result of the last put that changed it */
///     };                      /* sizeof 16: 3 bytes of padding at the end */
package struct DemoGetAnswer: Equatable, Sendable {
    /// `sizeof(struct demo_get_rsp)`.
    package static let size = 16
    package var value: Int64
    package var version: UInt32
    package var last: DemoPutResult

    package init(value: Int64, version: UInt32, last: DemoPutResult) {
        self.value = value
        self.version = version
        self.last = last
    }

    /// The 16 bytes (the same layout as `demo_put_rsp`: an int64, a uint32, a uint8, padding).
    package func encoded() -> [UInt8] {
        DemoPutAnswer(previous: value, version: version, result: last).encoded()
    }

    /// Reads an answer; nil when it is not 16 bytes or `last` has no name.
    package static func decode(_ bytes: some Collection<UInt8>) -> DemoGetAnswer? {
        DemoPutAnswer.decode(bytes).map { DemoGetAnswer(value: $0.previous, version: $0.version, last: $0.result) }
    }
}

// MARK: - bytes

/// `key` into `out[0..<16]`, NUL-terminated (at most 15 bytes kept).
private func putKey(_ key: [UInt8], into out: inout [UInt8]) {
    for (i, byte) in key.prefix(15).enumerated() { out[i] = byte }
}

/// The key before the first NUL of a `char key[16]`; nil when empty or unterminated.
private func readKey(_ field: ArraySlice<UInt8>) -> [UInt8]? {
    guard let nul = field.firstIndex(of: 0), nul > field.startIndex else { return nil }
    return Array(field[..<nul])
}

private func putLE(_ v: UInt64, at offset: Int, into out: inout [UInt8]) {
    for i in 0..<8 { out[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
}

private func putLE32(_ v: UInt32, at offset: Int, into out: inout [UInt8]) {
    for i in 0..<4 { out[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
}

private func readLE(_ b: [UInt8], at offset: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[offset + $1]) << (8 * $1) }
}

private func readLE32(_ b: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[offset + $1]) << (8 * $1) }
}
