import ArgumentParser

extension IPCScope {
    /// Every verb, in the order `--help` lists them. Add new verbs here.
    static let verbs: [ParsableCommand.Type] = [
        Serve.self,
        Call.self,
        List.self,
        Clean.self,
        Status.self,
        Watch.self,
        SchemaCheck.self,
        Record.self,
        Replay.self,
        TimelineVerb.self,
        Attach.self,
        Bench.self,
        Demo.self,
        DemoClient.self,
        Exporter.self,
    ]
}
