// Small byte and text helpers every parser in the package shares.

/// The value of one ASCII hex digit (`0-9`, `a-f`, `A-F`); nil for any other byte.
package func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}
