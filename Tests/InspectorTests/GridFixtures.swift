// In-memory sections for the golden-grid tests: bytes laid out as SECTION_FORMAT.md says,
// decoded by the real `Snapshot(service:bytes:objectSize:)`.
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector

/// A model with deterministic names and clock.
func testModel(ascii: Bool = false) -> InspectorModel {
    var m = InspectorModel(service: "Demo", ascii: ascii)
    m.processName = { pid in pid == 4242 ? "ipcscope" : "holder" }
    m.processCommand = { _ in "ipcscope serve Demo --echo" }
    m.processStartTime = { _ in 1 }  // every pid alive, and (sections without a start time) trusted
    m.clockText = { ns in "t+" + String(ns / 1_000_000) + "ms" }
    return m
}

/// Renders `model` at `now` into a `width`x`height` grid.
func draw(_ model: inout InspectorModel, width: Int = 120, height: Int = 40, now: UInt64 = 10_000_000_000) -> Grid {
    var g = Grid(width: width, height: height)
    model.render(into: &g, now: now)
    return g
}
