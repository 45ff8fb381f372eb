/// A protocol-buffers encoder for the few wire types a Perfetto trace needs, written by hand
/// (no generated code, no swift-protobuf): varints (wire type 0), 64-bit fixed (1) and
/// length-delimited fields (2: strings, bytes, nested messages). Fields are written in the order
/// given; a reader accepts any order.
package struct ProtoWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    private mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    /// A `uint32`, `uint64` or enum field.
    package mutating func uint(_ field: Int, _ v: UInt64) {
        key(field, 0)
        varint(v)
    }

    /// An `int32` or `int64` field (two's complement in ten bytes when negative, as protobuf says).
    package mutating func int(_ field: Int, _ v: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: v))
    }

    package mutating func bool(_ field: Int, _ v: Bool) { uint(field, v ? 1 : 0) }

    /// A `fixed64` field.
    package mutating func fixed64(_ field: Int, _ v: UInt64) {
        key(field, 1)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    /// A `string` field (UTF-8).
    package mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }

    /// A `bytes` field.
    package mutating func data(_ field: Int, _ b: [UInt8]) {
        key(field, 2)
        varint(UInt64(b.count))
        bytes += b
    }

    /// A nested message, written by `body`.
    package mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        body(&inner)
        data(field, inner.bytes)
    }
}
