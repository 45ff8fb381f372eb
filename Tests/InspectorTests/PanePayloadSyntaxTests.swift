// The client pane reads pasted dumps with the same parser as `call --hex` (PayloadSyntax, in
// IPCScopeObserve): what a `*` dump shows is what the pane sends.
import IPCScopeObserve
import IPCScopeInspector
import Testing

@Suite("Payload syntax in the client pane")
struct PanePayloadSyntaxTests {
    @Test("the client pane sends what a pasted '*' dump shows, typed line by line as a terminal pastes it")
    func clientPaneStarDump() {
        let bytes: [UInt8] = [0x41] + [UInt8](repeating: 0, count: 64) + [0x42]
        let dump = HexDump.format(bytes)
        #expect(dump.contains("\n*\n"))
        var m = InspectorModel(service: "Demo")
        m.focus = .client
        _ = m.handle(key: .ctrl("t"))
        var actions: [InspectorAction] = []
        for c in "7 " + dump { actions += m.handle(key: c == "\n" ? .enter : .char(c)) }
        #expect(actions == [.send(ClientCall(function: 7, payload: bytes, timeoutNS: ClientPaneState.defaultTimeoutNS))])
    }
}
