/// How strongly a byte is marked as recently changed: reverse video, then underline, then plain.
import IPCScopeObserve
package enum ChangeMark: Equatable, Sendable {
    case none, fresh, fading

    /// The attributes that show it (never colour alone).
    package var attributes: CellAttributes {
        switch self {
        case .none: []
        case .fresh: .reverse
        case .fading: .underline
        }
    }
}

/// Remembers when each byte of a data area last changed, to mark changes that fade over a
/// few frames: `fresh` for the frame that saw the change and the next `freshFrames - 1`,
/// `fading` until `fadeFrames` frames have passed.
package struct ByteDiff: Sendable {
    /// The bytes seen in the last frame.
    package private(set) var previous: [UInt8] = []
    /// Frame number at which each byte last changed (`Int.min` when never).
    private var changedAt: [Int] = []
    /// Frames counted so far.
    package private(set) var frame = 0
    package var freshFrames = 3
    package var fadeFrames = 10

    package init() {}

    /// Takes the next frame's bytes; returns whether any byte differs from the last frame.
    @discardableResult
    package mutating func update(_ bytes: [UInt8]) -> Bool {
        frame += 1
        if previous.isEmpty || previous.count != bytes.count {
            // First frame (or a new layout): nothing is "changed", it is all new.
            let first = previous.isEmpty
            previous = bytes
            changedAt = Array(repeating: Int.min, count: bytes.count)
            return !first
        }
        var any = false
        bytes.withUnsafeBufferPointer { new in
            previous.withUnsafeMutableBufferPointer { old in
                changedAt.withUnsafeMutableBufferPointer { at in
                    for i in 0..<new.count where new[i] != old[i] {
                        old[i] = new[i]
                        at[i] = frame
                        any = true
                    }
                }
            }
        }
        if any { lastChange = frame }
        return any
    }

    /// Frame of the most recent change.
    package private(set) var lastChange = Int.min

    /// Whether some byte is still marked (the screen must keep redrawing to fade it).
    package var fading: Bool { lastChange != Int.min && frame - lastChange < fadeFrames }

    /// The mark for byte `index`.
    package func mark(_ index: Int) -> ChangeMark {
        guard index >= 0, index < changedAt.count else { return .none }
        let at = changedAt[index]
        if at == Int.min { return .none }
        let age = frame - at
        if age < freshFrames { return .fresh }
        if age < fadeFrames { return .fading }
        return .none
    }

    /// Forgets everything (a new server, a new object).
    package mutating func reset() {
        previous = []
        changedAt = []
        lastChange = Int.min
    }
}
