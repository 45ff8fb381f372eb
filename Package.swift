// swift-tools-version:6.0
//
// ipcscope: a shared-memory IPC framework for Linux and the tool to watch and debug it.
// Module map (see docs/architecture.md):
//   CIPCScope        C: the section layout header (+ _Static_asserts) and the calls Swift cannot make
//   IPCScopeKit      the framework: section, server, client
//   IPCScopeModel    the inspector's model: read-only snapshots, hex dumps, history, screen grid (no curses)
//   IPCScopeSchema   typed payloads: a YAML schema of a service's structs, decoder and encoder
//   IPCScopeScript   scripted replies (YAML) for the mock server
//   CNcurses         C: ncursesw macros and globals wrapped for Swift
//   IPCScopeTUI      the thin curses front: copies the model's grid to the terminal, reads keys
//   IPCScopeCLI      the `ipcscope` executable: parses arguments, calls the libraries
//   IPCScopeDemo, CDemoShims  `ipcscope demo`: the demo service's functions, its traffic generator, prctl
//   CIPCBench, IPCScopeBench  the benchmark and its raw C baselines
//   MBVIPC           C: the MBV_IPC C API (libmbvipc) over the same section header; also `make -C Sources/MBVIPC`
//   IPCScopeTestHelper        a helper process for the multi-process tests
//   IPCScopeFuzz, CIPCScopeFuzz  `ipcscope-fuzz`: the seeded fuzzer over every decoder, and its crash handler
//   IPCScopeTorture           `ipcscope-torture`: servers and clients under chaos, every answer checked
//   IPCScopeProcess           starting child processes (over swift-subprocess) for the tools and the tests
//   IPCScopeRandom            SplitMix64, the seedable generator of the fuzzer, the torture and the demo
import PackageDescription

let package = Package(
    name: "ipcscope",
    products: [
        .library(name: "IPCScopeKit", targets: ["IPCScopeKit"]),
        .executable(name: "ipcscope", targets: ["IPCScopeCLI"]),
        .executable(name: "ipcscope-bench", targets: ["IPCScopeBench"]),
        .library(name: "MBVIPC", targets: ["MBVIPC"]),
        .executable(name: "ipcscope-fuzz", targets: ["IPCScopeFuzz"]),
        .executable(name: "ipcscope-torture", targets: ["IPCScopeTorture"]),
    ],
    dependencies: [
        // Starting child processes (IPCScopeProcess); swift-system for its FilePath and FileDescriptor.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Property tests (Tests/IPCScopeTests/Property*.swift) and the API docs (`swift package generate-documentation`).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Counting allocations in the benchmark (and, preloaded, in `ipcscope serve`).
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        .target(name: "CIPCScope", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "IPCScopeKit", dependencies: ["CIPCScope"]),
        .target(name: "IPCScopeModel", dependencies: ["IPCScopeKit", "CIPCScope", "IPCScopeSchema"]),
        .target(name: "IPCScopeSchema", dependencies: ["IPCScopeKit", .product(name: "Yams", package: "Yams")]),
        .target(name: "IPCScopeScript", dependencies: ["IPCScopeKit", "IPCScopeSchema", .product(name: "Yams", package: "Yams")]),
        .target(name: "CNcurses", cSettings: [.define("_GNU_SOURCE"), .define("NCURSES_WIDECHAR", to: "1")],
                linkerSettings: [.linkedLibrary("ncursesw")]),
        .target(name: "IPCScopeTUI", dependencies: ["IPCScopeModel", "IPCScopeScript", "IPCScopeSchema", "IPCScopeKit", "CNcurses"]),
        .executableTarget(
            name: "IPCScopeCLI",
            dependencies: [
                "IPCScopeKit", "IPCScopeModel", "IPCScopeScript", "IPCScopeSchema", "IPCScopeTUI", "IPCScopeDemo", "CIPCScope", "IPCScopeProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        .target(name: "CDemoShims", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "IPCScopeDemo", dependencies: [
            "IPCScopeKit", "CDemoShims", "IPCScopeProcess", "IPCScopeRandom", .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .target(name: "CIPCBench", dependencies: ["MBVIPC"], cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(
            name: "IPCScopeBench",
            dependencies: [
                "IPCScopeKit", "IPCScopeModel", "CIPCBench", "CIPCScope", "IPCScopeProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]),
        // The C library: the protocol once (ipc_core*.c) behind a platform seam; ipc_nt.c is the
        // Windows backend, built only by its Makefile (PLATFORM=nt).
        .target(name: "MBVIPC", dependencies: ["CIPCScope"],
                sources: ["ipc_core.c", "ipc_core_client.c", "ipc_core_server.c", "ipc_posix.c"],
                cSettings: [.define("_GNU_SOURCE")], linkerSettings: [.linkedLibrary("pthread")]),
        .executableTarget(name: "IPCScopeTestHelper", dependencies: [
            "IPCScopeKit", "CIPCScope", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "CIPCScopeFuzz", cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(name: "IPCScopeFuzz",
                          dependencies: ["IPCScopeKit", "IPCScopeModel", "IPCScopeScript", "IPCScopeSchema", "CIPCScope", "CIPCScopeFuzz",
                                         "IPCScopeRandom", "IPCScopeProcess",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "IPCScopeTorture", dependencies: [
            "IPCScopeKit", "IPCScopeProcess", "IPCScopeRandom", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "IPCScopeProcess", dependencies: [
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "IPCScopeRandom"),
        .target(name: "TestSupport", dependencies: ["IPCScopeKit", "IPCScopeProcess"], path: "Tests/TestSupport"),
        .testTarget(
            name: "IPCScopeTests",
            dependencies: ["IPCScopeKit", "IPCScopeModel", "IPCScopeScript", "IPCScopeSchema", "TestSupport", "IPCScopeProcess",
                           "IPCScopeCLI", "IPCScopeTestHelper", "CIPCScope", "IPCScopeDemo", "MBVIPC",
                           "IPCScopeFuzz", "IPCScopeTorture", "IPCScopeRandom",
                           .product(name: "PropertyBased", package: "swift-property-based")],
            exclude: []),
    ]
)
