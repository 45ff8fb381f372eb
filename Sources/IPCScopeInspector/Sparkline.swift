/// Calls per second, sampled once a second from `calls_served`, drawn as a sparkline.
import IPCScopeObserve
package struct RateSampler: Sendable {
    /// Rates of the last samples, oldest first (calls per second).
    package private(set) var samples: [Double] = []
    /// How many samples to keep.
    package var keep = 120
    private var lastNS: UInt64 = 0
    private var lastCount: UInt64 = 0
    private var started = false

    package init() {}

    /// Feeds the counter at time `now` (ns); adds a sample when at least a second has passed.
    package mutating func feed(count: UInt64, now: UInt64) {
        guard started else {
            started = true
            lastNS = now
            lastCount = count
            return
        }
        if count < lastCount {  // a new server: counter restarted
            lastCount = count
            lastNS = now
            return
        }
        let dt = now &- lastNS
        guard dt >= 1_000_000_000 else { return }
        samples.append(Double(count - lastCount) * 1e9 / Double(dt))
        if samples.count > keep { samples.removeFirst(samples.count - keep) }
        lastNS = now
        lastCount = count
    }

    /// The latest rate, if one was sampled.
    package var current: Double? { samples.last }

    /// Forgets the samples.
    package mutating func reset() { self = RateSampler() }
}

/// Draws values as a one-line bar chart of `width` columns (latest at the right).
package func sparkline(_ values: [Double], width: Int, glyphs: Glyphs) -> String {
    guard width > 0 else { return "" }
    let shown = values.suffix(width)
    let peak = shown.max() ?? 0
    var s = String(repeating: " ", count: width - shown.count)
    for v in shown {
        if peak <= 0 || v <= 0 {
            s.unicodeScalars.append(v > 0 ? glyphs.bars[0] : " ")
            continue
        }
        let level = min(glyphs.bars.count - 1, Int((v / peak) * Double(glyphs.bars.count - 1) + 0.5))
        s.unicodeScalars.append(glyphs.bars[max(0, level)])
    }
    return s
}

/// A rate as a short number: `0`, `12`, `3.4k`, `1.2M`.
package func formatRate(_ v: Double) -> String {
    switch v {
    case ..<10: fixed(v, v == v.rounded() ? 0 : 1)
    case ..<10_000: String(Int(v.rounded()))
    case ..<1_000_000: fixed(v / 1e3, 1) + "k"
    default: fixed(v / 1e6, 2) + "M"
    }
}
