// Instructions per call on the hot path, counted by valgrind's callgrind: a figure that does not
// depend on the host's load, so a test can hold it to a budget (docs/performance.md, "Instruction
// budget"; Tests/IPCScopeTests/InstructionBudgetTests.swift; benchmarks/instruction-budget.json).
//
//   ipcscope-bench --instructions [--calls N] [--json]
//
// One side at a time runs under callgrind, the other natively, each in its own process:
//
//   --role counted-server NAME     a 64-byte echo server; prints "ready pid=P"; SIGTERM stops it
//   --role counted-client NAME N   warm-up calls, then N calls of 64 bytes; prints "ok calls=N"
//
// Only the call's own steps are counted: on the client `Client.call(function:payload:into:...)`
// without `clientWait` (the spin and the sleep, whose length is the other side's doing), on the
// server `serveOne` (PROCESSING, the copy, the echo handler, the answer, the trace record), never
// `waitForRequest`. Both sides spin for a minute before they would sleep, so neither ever finds
// the other asleep and wakes it (a system call whose count would depend on the timing). The
// counts start at `callgrindZeroHere()`, after the warm-up calls, so one-time work (the first
// call's lazy initialisation) stays out.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import Dispatch
import IPCScopeKit
import IPCScopePOSIX

/// The functions whose instructions are the call's own steps, as callgrind names them (mangled
/// Swift names; `*` matches any run of characters). `--toggle-collect` switches counting on at
/// a function's entry and off at its exit, and the other way round inside one that is counted,
/// so the client counts `call` less `clientWait`. The patterns end where the function's own name
/// ends: the closures and `defer` blocks inside these functions have longer names, and toggling
/// on one of them would switch counting back on inside the wait.
enum CountedSteps {
    static let client = [
        "*6ClientC4call8function7payload4into7timeout12cancellation*IPCErrorVYKF",
        "*6ClientC10clientWait*IPCErrorVYKF",
    ]
    static let server = [
        "*6ServerC8serveOne*ResponseWriterVztKXEF",
    ]
    /// Where the counts start (after the warm-up calls).
    static let zeroAt = "*callgrindZeroHere*"
}

/// Called once the warm-up calls are done: callgrind (`--zero-before`) forgets what it counted
/// so far. Does nothing else.
@inline(never)
func callgrindZeroHere() {
    withExtendedLifetime(()) {}
}

/// Function numbers the counted server understands besides echo.
enum CountedFunction {
    /// The server calls `callgrindZeroHere()` in its handler (the last warm-up call).
    static let zeroHere: UInt32 = 0xFFFF_FF02
}

extension Roles {
    static let countedPayload = 64
    static let countedWarmup = 200
    /// Neither side sleeps while the other is being counted (see the top of this file).
    static let countedSpin = Duration.seconds(60)

    /// `--role counted-server NAME`: the echo server whose `serveOne` is counted.
    static func countedServer(name: String) throws {
        var options = ServerOptions()
        options.spin = countedSpin
        let server = try Server(service: name, options: options)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: DispatchQueue(label: "sigterm"))
        source.setEventHandler { @Sendable in server.stop() }
        source.resume()
        say("ready pid=\(getpid())")
        server.run { request, response in
            if request.function == CountedFunction.zeroHere { callgrindZeroHere() }
            try response.set(request.payload)
            return 0
        }
        source.cancel()
    }

    /// `--role counted-client NAME CALLS`: warm-up calls, then CALLS calls of 64 bytes into a
    /// caller-supplied buffer, each answer checked.
    static func countedClient(name: String, calls: Int) throws {
        var options = ClientOptions()
        options.spin = countedSpin
        let client = try Client(service: name, options: options)
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: countedPayload, alignment: 64)
        for i in 0..<request.count { request[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let response = UnsafeMutableRawBufferPointer.allocate(byteCount: client.responseCapacity, alignment: 64)
        let req = UnsafeRawBufferPointer(request)
        let timeout = Duration.seconds(120)
        var bad = 0
        for _ in 0..<countedWarmup {
            _ = try client.call(function: 1, payload: req, into: response, timeout: timeout)
        }
        _ = try client.call(function: CountedFunction.zeroHere, payload: req, into: response, timeout: timeout)
        callgrindZeroHere()
        for _ in 0..<calls {
            let r = try client.call(function: 1, payload: req, into: response, timeout: timeout)
            if r.status != 0 || r.count != countedPayload { bad += 1 }
        }
        guard bad == 0, memcmp(response.baseAddress!, request.baseAddress!, countedPayload) == 0 else {
            throw BenchError("\(bad) calls answered wrongly")
        }
        say("ok calls=\(calls)")
    }
}

/// Instructions per call of each side.
struct InstructionCounts {
    var build: String
    var calls: Int
    var client: Double
    var server: Double

    var table: String {
        """
        instructions per call, \(Roles.countedPayload) B echo, one client (valgrind --tool=callgrind, \(build) build, \(calls) calls each side)
          client: Client.call(function:payload:into:) less its waits   \(fixed(client, 1))
          server: serveOne (echo handler included)                      \(fixed(server, 1))
        """
    }

    var json: String {
        "{\"build\":\"\(build)\",\"calls\":\(calls),\"payload\":\(Roles.countedPayload),"
            + "\"client\":\(fixed(client, 1)),\"server\":\(fixed(server, 1))}"
    }
}

extension Bench {
    /// The build this binary is.
    static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// Counts both sides (see the top of this file).
    static func instructions(calls: Int) throws -> InstructionCounts {
        guard let valgrind = findProgram("valgrind") else {
            throw BenchError("valgrind is not installed: apt-get install valgrind")
        }
        guard let objcopy = findProgram("objcopy") else {
            throw BenchError("objcopy is not installed: apt-get install binutils")
        }
        let dir = Cleanup.directory ?? "/tmp"
        // Valgrind 3.19 gives up on the DWARF 5 debug information the Swift compiler writes, so
        // the side under callgrind runs a copy without it: the symbol table (all callgrind needs
        // to name functions) stays. The interposer library goes beside it ($ORIGIN), stripped too.
        let copy = dir + "/ipcscope-bench"
        try runToEnd(objcopy, ["--strip-debug", selfPath, copy], tag: "objcopy", within: 60)
        if let lib = Allocations.libraryPath {
            try runToEnd(objcopy, ["--strip-debug", lib, dir + "/" + Allocations.library], tag: "objcopy-lib", within: 60)
        }
        let client = try countSide(client: true, valgrind: valgrind, copy: copy, calls: calls)
        let server = try countSide(client: false, valgrind: valgrind, copy: copy, calls: calls)
        return InstructionCounts(build: buildConfiguration, calls: calls, client: client, server: server)
    }

    /// One side under callgrind, the other native; the counted instructions divided by `calls`.
    private static func countSide(client counted: Bool, valgrind: String, copy: String, calls: Int) throws -> Double {
        let side = counted ? "client" : "server"
        let name = "bench-\(getpid())-instructions-\(side)"
        Cleanup.services.append(name)
        let out = (Cleanup.directory ?? "/tmp") + "/callgrind-\(side).out"
        let patterns = counted ? CountedSteps.client : CountedSteps.server
        let callgrind = [valgrind, "-q", "--tool=callgrind", "--callgrind-out-file=" + out, "--collect-atstart=no",
                         "--zero-before=" + CountedSteps.zeroAt] + patterns.map { "--toggle-collect=" + $0 }
        let serverRole = ["--role", "counted-server", name]
        let clientRole = ["--role", "counted-client", name, String(calls)]
        let serverArguments = counted ? serverRole : Array(callgrind.dropFirst()) + [copy] + serverRole
        let server = try Child(executable: counted ? selfPath : valgrind, arguments: serverArguments, tag: "counted-server-\(side)")
        _ = try server.waitForLine("ready", within: 120, what: "the \(counted ? "" : "counted ")server")
        let clientArguments = counted ? Array(callgrind.dropFirst()) + [copy] + clientRole : clientRole
        let client = try Child(executable: counted ? valgrind : selfPath, arguments: clientArguments, tag: "counted-client-\(side)")
        try client.finish(within: 600, what: "the \(counted ? "counted " : "")client")
        try server.terminate(within: 120, what: "the \(counted ? "" : "counted ")server")
        guard let text = readTextFile(out) else { throw BenchError("callgrind wrote no \(out)") }
        // "totals: N" (the counted instructions, Ir) closes the file.
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("totals:") }),
              let total = Double(line.dropFirst(7).drop(while: { $0 == " " })) else {
            throw BenchError("no totals in \(out)")
        }
        guard total > 0 else {
            throw BenchError("callgrind counted nothing on the \(side): no function matched \(patterns) (renamed?)")
        }
        _ = shm_unlink("/ipcscope." + name)
        return total / Double(calls)
    }

    /// Runs a program to its end; throws when it fails.
    private static func runToEnd(_ path: String, _ arguments: [String], tag: String, within seconds: Double) throws {
        let child = try Child(executable: path, arguments: arguments, tag: tag)
        try child.finish(within: seconds, what: tag)
    }

    /// The first executable `name` on PATH.
    static func findProgram(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 {
            return "\(dir)/\(name)"
        }
        return nil
    }
}
