// `ipcscope list` through an agent: the agent's /dev/shm, each entry judged as a local one is.

extension AgentConnection {
    /// Every `ipcscope.*` entry of the agent's /dev/shm, sorted by name, each readable one
    /// snapshotted and judged by `SectionDirectory.judge` with the agent host's pid facts.
    /// - Throws: when the stream breaks; an ERROR about one entry becomes that entry's problem.
    package func sectionEntries() throws(AgentProtocolError) -> [SectionEntry] {
        let place = transport.place
        var entries: [SectionEntry] = []
        for l in try list().sorted(by: { $0.rawName.lexicographicallyPrecedes($1.rawName) }) {
            let raw = DirectoryName(l.rawName)
            let shown = raw.escaped
            var e = SectionEntry(rawName: raw, name: shown, path: SectionDirectory.directory + "/ipcscope." + shown,
                                 objectSize: Int(min(l.size, UInt64(Int.max))), ownerUID: l.uid, mode: l.mode,
                                 fileKind: l.kindName, condition: .gone, alive: false, snapshot: nil, serverCommand: nil,
                                 problem: nil)
            if !raw.isServiceName {
                e.condition = .invalidName
                e.problem = "invalid service name (shown escaped): not made by ipcscope; check who made it (ls -l /dev/shm on \(place))"
            } else if l.kind != 0 {
                e.condition = .notRegular
                e.problem = "not a regular file (\(e.fileKind)): not a section"
            } else {
                do {
                    let taken = try snapshot(service: shown)
                    SectionDirectory.judge(&e, taken.snapshot, justCreated: l.ageNS < SectionDirectory.startingGraceNS,
                                           facts: taken.facts)
                } catch {
                    guard case .agent(let code, let message) = error else { throw error }
                    switch code {
                    case AgentErrorCode.noSection: e.condition = .gone; e.problem = "gone"
                    case AgentErrorCode.notRegular: e.condition = .notRegular; e.problem = message
                    default: e.condition = .unreadable; e.problem = message
                    }
                }
            }
            entries.append(e)
        }
        return entries
    }
}
