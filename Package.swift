// swift-tools-version:6.0
//
// ipcscope: a shared-memory IPC framework for Linux and the tool to watch and debug it.
// Module map (see docs/architecture.md; only IPCScopeKit and MBVIPC are public API):
//   CIPCScope        C: the section layout header (+ _Static_asserts) and the calls Swift cannot make
//   IPCScopePOSIX, CIPCScopePOSIX  package-internal: /proc facts, file kinds, whole-file I/O, printing, parent death
//   IPCScopeKit      the framework: section, server, client
//   IPCScopeObserve  reading a section read-only: snapshots, the directory, trace following, status/JSON/hex text
//   IPCScopeRecording  pcapng recordings of whole calls: writing, reading, replay
//   IPCScopeInspector  the inspector's model: state, keys, panes, history, the screen grid (no curses)
//   IPCScopeSchema   typed payloads: a YAML schema of a service's structs, decoder and encoder
//   IPCScopeScript   scripted replies (YAML) for the mock server, and serve's host (signals, log thread, step)
//   CNcurses         C: ncursesw macros and globals wrapped for Swift
//   IPCScopeExporter the Prometheus exporter: sections read into metrics, served over HTTP (NIO)
//   IPCScopeTUI      the thin curses front: copies the model's grid to the terminal, reads keys
//   IPCScopeCLI      the `ipcscope` executable: parses arguments, calls the libraries
//   IPCScopeDemo     `ipcscope demo`: the demo service's functions and its traffic generator
//   CIPCBench, IPCScopeBench  the benchmark and its raw C baselines; CIPCScopeProbe: serve's allocation probe
//   MBVIPC           C: the MBV_IPC C API (libmbvipc) over the same section header; also `make -C Sources/MBVIPC`
//   IPCScopeTestHelper        a helper process for the multi-process tests
//   IPCScopeFuzz, CIPCScopeFuzz  `ipcscope-fuzz`: the seeded fuzzer over every decoder, and its crash handler
//   IPCScopeLibFuzz, CIPCScopeLibFuzz  `ipcscope-libfuzz`: libFuzzer targets over the Swift parsers (fuzz/swift/)
//   IPCScopeTorture           `ipcscope-torture`: servers and clients under chaos, every answer checked
//   IPCScopeProcess           starting child processes (over swift-subprocess) for the tools and the tests
//   IPCScopeRandom            SplitMix64, the seedable generator of the fuzzer, the torture and the demo
import PackageDescription

/// swift-property-based, for the property tests of the parsers and decoders.
let propertyBased: Target.Dependency = .product(name: "PropertyBased", package: "swift-property-based")

let package = Package(
    name: "ipcscope",
    products: [
        .library(name: "IPCScopeKit", targets: ["IPCScopeKit"]),
        .executable(name: "ipcscope", targets: ["IPCScopeCLI"]),
        .executable(name: "ipcscope-bench", targets: ["IPCScopeBench"]),
        .library(name: "MBVIPC", targets: ["MBVIPC"]),
        .executable(name: "ipcscope-fuzz", targets: ["IPCScopeFuzz"]),
        .executable(name: "ipcscope-torture", targets: ["IPCScopeTorture"]),
        .executable(name: "ipcscope-libfuzz", targets: ["IPCScopeLibFuzz"]),
    ],
    dependencies: [
        // Starting child processes (IPCScopeProcess); swift-system for its FilePath and FileDescriptor.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Property tests (Tests/*/Property*.swift) and the API docs (`swift package generate-documentation`).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Counting allocations in the benchmark (and, preloaded, in `ipcscope serve`).
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
        // The Prometheus exporter (IPCScopeExporter): the text format from swift-prometheus (over
        // swift-metrics), served by a small handler on SwiftNIO's own HTTP/1 parser.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CIPCScope", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "CIPCScopePOSIX", cSettings: [.define("_GNU_SOURCE")]),
        // The allocation probe `serve` starts when ipcscope-bench preloads malloc-interposer (dlsym only).
        .target(name: "CIPCScopeProbe", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "IPCScopePOSIX", dependencies: ["CIPCScopePOSIX", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "IPCScopeKit", dependencies: ["CIPCScope", "IPCScopePOSIX"]),
        .target(name: "IPCScopeObserve", dependencies: ["IPCScopePOSIX", "IPCScopeKit", "CIPCScope", "IPCScopeProcess", .product(name: "Histogram", package: "hdrhistogram-swift")]),
        .target(name: "IPCScopeRecording", dependencies: ["IPCScopePOSIX", "IPCScopeObserve", "IPCScopeKit", "CIPCScope"]),
        .target(name: "IPCScopeInspector", dependencies: ["IPCScopePOSIX", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeSchema", "IPCScopeKit", "CIPCScope",
                                                     .product(name: "Histogram", package: "hdrhistogram-swift")]),
        .target(name: "IPCScopeSchema", dependencies: ["IPCScopePOSIX", "IPCScopeKit", .product(name: "Yams", package: "Yams")]),
        .target(name: "IPCScopeScript", dependencies: ["IPCScopeObserve", "IPCScopePOSIX", "IPCScopeKit", "IPCScopeSchema", .product(name: "Yams", package: "Yams")]),
        .target(name: "IPCScopeExporter", dependencies: ["IPCScopePOSIX", "IPCScopeObserve", "IPCScopeSchema", "IPCScopeKit", "CIPCScope",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(name: "CNcurses", cSettings: [.define("_GNU_SOURCE"), .define("NCURSES_WIDECHAR", to: "1")],
                linkerSettings: [.linkedLibrary("ncursesw")]),
        .target(name: "IPCScopeTUI", dependencies: ["IPCScopePOSIX", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeInspector", "IPCScopeScript", "IPCScopeSchema", "IPCScopeKit", "CNcurses"]),
        .executableTarget(
            name: "IPCScopeCLI",
            dependencies: ["CIPCScopeProbe", "IPCScopePOSIX", 
                "IPCScopeKit", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeInspector", "IPCScopeScript", "IPCScopeSchema", "IPCScopeTUI", "IPCScopeDemo", "CIPCScope", "IPCScopeProcess",
                "IPCScopeExporter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
                .target(name: "IPCScopeDemo", dependencies: [
            "IPCScopeKit", "IPCScopePOSIX", "IPCScopeProcess", "IPCScopeRandom", .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .target(name: "CIPCBench", dependencies: ["MBVIPC"], cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(
            name: "IPCScopeBench",
            dependencies: ["IPCScopePOSIX",
                "IPCScopeKit", "IPCScopeObserve", "CIPCBench", "CIPCScope", "IPCScopeProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]),
        // The C library: the protocol once (ipc_core*.c) behind a platform seam; ipc_nt.c is the
        // Windows backend, built only by its Makefile (PLATFORM=nt).
        .target(name: "MBVIPC", dependencies: ["CIPCScope"],
                sources: ["ipc_core.c", "ipc_core_client.c", "ipc_core_server.c", "ipc_posix.c"],
                cSettings: [.define("_GNU_SOURCE")], linkerSettings: [.linkedLibrary("pthread")]),
        .executableTarget(name: "IPCScopeTestHelper", dependencies: ["IPCScopeKit", "CIPCScope", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "CIPCScopeFuzz", cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(name: "IPCScopeFuzz",
                          dependencies: ["IPCScopePOSIX", "IPCScopeKit", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeInspector", "IPCScopeScript", "IPCScopeSchema", "CIPCScope", "CIPCScopeFuzz",
                                         "IPCScopeRandom", "IPCScopeProcess", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // `ipcscope-libfuzz`: the Swift parsers' libFuzzer targets; a replay main here, libFuzzer's driver
        // when fuzz/swift/build.sh builds it with -sanitize=fuzzer,address -D LIBFUZZER.
        .target(name: "CIPCScopeLibFuzz"),
        .executableTarget(name: "IPCScopeLibFuzz",
                          dependencies: ["IPCScopePOSIX", "IPCScopeKit", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeInspector",
                                         "IPCScopeSchema", "CIPCScope", "CIPCScopeLibFuzz"]),
        .executableTarget(name: "IPCScopeTorture", dependencies: ["IPCScopePOSIX", "IPCScopeKit", "IPCScopeProcess", "IPCScopeRandom", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "IPCScopeProcess", dependencies: [
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "IPCScopeRandom"),
        .target(name: "TestSupport", dependencies: ["IPCScopePOSIX", "IPCScopeKit", "IPCScopeObserve", "IPCScopeRecording", "CIPCScope", "IPCScopeProcess"], path: "Tests/TestSupport"),
        // One test target per module (`swift build --target InspectorTests` compiles only what the inspector
        // needs); EndToEndTests runs the built executables as a user would (CLI, tmux, demo, install, torture, fuzz).
        .testTarget(name: "KitTests", dependencies: ["IPCScopePOSIX", "IPCScopeKit", "CIPCScope", "IPCScopeObserve", "TestSupport", "IPCScopeTestHelper"]),
        .testTarget(name: "ProcessTests", dependencies: ["IPCScopeProcess", "TestSupport"]),
        .testTarget(name: "ObserveTests", dependencies: ["IPCScopeObserve", "TestSupport", propertyBased]),
        .testTarget(name: "RecordingTests", dependencies: ["TestSupport", "IPCScopeRecording", "IPCScopeObserve", "IPCScopeKit", "CIPCScope", propertyBased]),
        .testTarget(name: "InspectorTests", dependencies: ["IPCScopePOSIX", "IPCScopeInspector", "IPCScopeRecording", "IPCScopeObserve", "IPCScopeSchema",
                                                         "IPCScopeKit", "CIPCScope", "TestSupport", propertyBased]),
        .testTarget(name: "ExporterTests", dependencies: ["IPCScopeExporter", "IPCScopeObserve", "IPCScopePOSIX", "IPCScopeKit", "TestSupport"]),
        .testTarget(name: "SchemaTests", dependencies: ["IPCScopeSchema", "TestSupport", propertyBased]),
        .testTarget(name: "ScriptTests", dependencies: ["IPCScopeScript", "TestSupport", propertyBased]),
        .testTarget(name: "MBVIPCTests", dependencies: ["IPCScopePOSIX", "MBVIPC", "IPCScopeKit", "IPCScopeObserve", "CIPCScope", "TestSupport", "IPCScopeTestHelper"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["IPCScopeKit", "IPCScopeObserve", "IPCScopeRecording", "IPCScopeInspector", "IPCScopeScript", "IPCScopeSchema",
                           "TestSupport", "IPCScopeProcess", "IPCScopeCLI", "IPCScopeTestHelper", "CIPCScope", "IPCScopeDemo",
                           "IPCScopeFuzz", "IPCScopeTorture", "IPCScopeRandom", "IPCScopeLibFuzz", "IPCScopeExporter"]),
    ]
)
