// Shared by the property tests. (TestSupport is an ordinary target, built by every `swift build`
// and by the man-page plugin's static release build, so it must not import swift-property-based,
// which imports Testing: each property test target has its own three-line `oneOf`.)

/// Reads choices one at a time; past the end every choice is 0, which always picks the simplest
/// (no padding, no offset, a `u8`), so shrinking the list simplifies the schema.
public struct Choices {
    public let values: [UInt32]
    public var next = 0
    public init(_ values: [UInt32]) { self.values = values }

    public mutating func pick(_ n: Int) -> Int {
        defer { next += 1 }
        return next < values.count ? Int(values[next] % UInt32(n)) : 0
    }
    public mutating func raw() -> UInt32 {
        defer { next += 1 }
        return next < values.count ? values[next] : 0
    }
}
