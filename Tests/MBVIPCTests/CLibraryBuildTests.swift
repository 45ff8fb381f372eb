// The C library (Sources/MBVIPC) built as a C or C++ programmer builds it: `make`, the
// system compilers, `make install` and pkg-config; its headers warning-free as C99 and C++11;
// the original examples compiled unchanged; the library under ASan and UBSan.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import Foundation
import Testing
import TestSupport

/// The library and the test programs in Tests/CLibrary, built once per test run with
/// `make` and the system compilers into a folder that is removed when the run ends.
enum CLib {
    struct Built {
        let dir: String
        let lib: String
        let echoServer: String
        let client: String
        let probe: String
    }

    static let root = repositoryRoot
    static let sources = root + "/Sources/MBVIPC"
    static let includes = ["-I", root + "/Sources/MBVIPC/include", "-I", root + "/Sources/CIPCScope/include"]
    /// The test programs' own unused handler parameters (`ctx`, as in the original example)
    /// are theirs, not the library's: the headers alone are checked with everything on.
    static let warnings = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]

    /// Built once; a failure carries the compiler's output.
    static let built: Result<Built, BuildFailure> = build()

    struct BuildFailure: Error, CustomStringConvertible { let description: String }

    /// The built programs, or a test failure with the compiler's words.
    static func require() throws -> Built { try built.get() }

    private static func build() -> Result<Built, BuildFailure> {
        let scope = TestScope()  // its folder holds the build; kept for the whole run, removed at exit
        keeper = scope
        buildDirectory = scope.directory
        atexit { if let d = CLib.buildDirectory { removeTree(d) } }
        let dir = scope.directory, lib = dir + "/lib"
        let make = scope.run("/usr/bin/make", ["-s", "-C", sources, "O=" + lib], timeout: 180)
        guard make.exitStatus == 0 else { return .failure(BuildFailure(description: "make: \(make.stderr)")) }
        let archive = lib + "/libmbvipc.a"
        let programs: [(String, String, String)] = [
            ("/usr/bin/c++", "echo_server.cpp", "echo_server"),
            ("/usr/bin/c++", "client.cpp", "client"),
            ("/usr/bin/cc", "c_probe.c", "c_probe"),
        ]
        for (compiler, source, out) in programs {
            let std = compiler.hasSuffix("c++") ? "-std=c++11" : "-std=c99"
            let c = scope.run(compiler, [std] + warnings + includes +
                              ["-o", dir + "/" + out, root + "/Tests/CLibrary/" + source, archive, "-lpthread"], timeout: 180)
            guard c.exitStatus == 0 else { return .failure(BuildFailure(description: "\(compiler) \(source): \(c.stderr)")) }
        }
        return .success(Built(dir: dir, lib: lib, echoServer: dir + "/echo_server", client: dir + "/client",
                              probe: dir + "/c_probe"))
    }

    nonisolated(unsafe) static var buildDirectory: String?
    /// The scope whose folder holds the build: a scope removes its folder when it ends.
    nonisolated(unsafe) static var keeper: TestScope?
}

/// Removes a folder and everything in it (the scopes' folders, the build).
func removeTree(_ path: String) {
    guard path.hasPrefix("/tmp/") else { return }
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/rm"), strdup("-rf"), strdup(path), nil]
    defer { argv.forEach { free($0) } }
    if posix_spawn(&pid, "/bin/rm", nil, nil, argv, environ) == 0 {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

@Suite("C library: build and packaging", .serialized)
struct CLibraryBuildTests {
    @Test("the headers compile alone, warning-free, as C99/C11/C17 and C++11/17/20 with -Wall -Wextra -Wpedantic")
    func headersWarningFree() throws {
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        for header in ["mbv_ipc.h", "ipc_server.h", "ipc_client.h", "ipc_types.h"] {
            let c = scope.file("h.c", "#include \"\(header)\"\nint main(void) { return MBV_IPCLastError(); }\n")
            let cpp = scope.file("h.cpp", "#include \"\(header)\"\nint main() { return MBV_IPCLastError(); }\n")
            let strict = ["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only"]
            for std in ["c99", "c11", "c17"] {
                let rc = scope.run("/usr/bin/cc", ["-std=" + std] + strict + CLib.includes + [c], timeout: 60)
                #expect(rc.exitStatus == 0, "\(header) as \(std): \(rc.stderr)")
            }
            for std in ["c++11", "c++17", "c++20"] {
                let rx = scope.run("/usr/bin/c++", ["-std=" + std] + strict + CLib.includes + [cpp], timeout: 60)
                #expect(rx.exitStatus == 0, "\(header) as \(std): \(rx.stderr)")
            }
        }
    }

    @Test("make builds the static and the shared library, and exports only the MBV_IPC functions")
    func makeBuildsBothLibraries() throws {
        let b = try CLib.require()
        #expect(access(b.lib + "/libmbvipc.a", R_OK) == 0)
        #expect(access(b.lib + "/libmbvipc.so", R_OK) == 0)
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let nm = scope.run("/usr/bin/nm", ["-D", "--defined-only", b.lib + "/libmbvipc.so"], timeout: 30)
        let exported = nm.stdout.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count == 3 && f[1] == "T" ? String(f[2]) : nil
        }
        #expect(exported.contains("MBV_IPCInitServer") && exported.contains("MBV_IPCCall"), "\(exported)")
        #expect(exported.allSatisfy { $0.hasPrefix("MBV_IPC") }, "internal symbols leak: \(exported)")
        // The library needs libc and pthreads, nothing from Swift.
        let ldd = scope.run("/usr/bin/ldd", [b.lib + "/libmbvipc.so"], timeout: 30)
        #expect(!ldd.stdout.contains("swift"), "\(ldd.stdout)")
    }

    /// The two examples of the original design, verbatim: only `#include` lines and a `main` added.
    static let originalServer = """
        #include <cstring>
        #include "ipc_server.h"
        int main() {
        auto* server = MBV_IPCInitServer(L"MyService", [](void* ctx, const ipc_request_t* req, ipc_response_t* res) {
            res->status = 0;
            res->response_size = req->request_size;
            memcpy(res->response_data, req->request_data, req->request_size);
        }, nullptr);

        MBV_IPCServerLoop(server);
        }
        """
    static let originalClient = """
        #include <cstdio>
        #include "ipc_client.h"
        int main() {
        MBV_IPC_CONNECTION conn = {};
        if (MBV_IPCConnect(L"MyService", &conn)) {
            const char msg[] = "hello";
            char response[4096] = {};
            uint16_t size = sizeof(response);

            if (MBV_IPCCall(&conn, 1, msg, sizeof(msg), response, &size)) {
                printf("Reply: %.*s\\n", size, response);
            }

            MBV_IPCDisconnect(&conn);
        }
        }
        """

    @Test("the original examples compile unchanged with c++ -Wall -Wextra -Werror, and talk to each other")
    func originalExamples() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        var exes: [String] = []
        for (file, text) in [("server.cpp", Self.originalServer), ("client.cpp", Self.originalClient)] {
            let src = scope.file(file, text), exe = scope.directory + "/" + String(file.dropLast(4))
            let c = scope.run("/usr/bin/c++", ["-std=c++11"] + CLib.warnings + CLib.includes +
                              ["-o", exe, src, b.lib + "/libmbvipc.a", "-lpthread"], timeout: 120)
            try #require(c.exitStatus == 0, "\(file): \(c.stderr)")
            exes.append(exe)
        }
        // They use the fixed name MyService: run them unless a live server holds it (a stale
        // section left by a crash is taken over by the server, as the format says).
        let live = scope.run(b.probe, ["connect", "MyService"], timeout: 10)
        guard !live.stdout.hasPrefix("connected") else {
            Issue.record("a live server holds MyService: the original examples were compiled but not run")
            return
        }
        scope.track(service: "MyService")
        let server = scope.spawn(exes[0], [])
        #expect(waitUntil(timeout: 10) { scope.objectExists("MyService") || server.hasExited })
        var reply = ""
        _ = waitUntil(timeout: 10) {
            reply = scope.run(exes[1], [], timeout: 10).stdout
            return reply.contains("Reply:")
        }
        #expect(reply == "Reply: hello\n", "\(reply.debugDescription)")
        server.signal(SIGKILL)  // the original server has no way to stop: its section is left stale
        #expect(server.wait(timeout: 5) == 128 + SIGKILL)
    }

    @Test("make install DESTDIR=… PREFIX=/usr, then the demo builds with pkg-config --cflags --libs mbvipc and runs")
    func installAndPkgConfig() throws {
        _ = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let dest = scope.directory + "/root", out = scope.directory + "/build"
        let install = scope.run("/usr/bin/make", ["-s", "-C", CLib.sources, "O=" + out, "install", "DESTDIR=" + dest,
                                                  "PREFIX=/usr"], timeout: 180)
        try #require(install.exitStatus == 0, "\(install.stderr)")
        for f in ["/usr/include/mbvipc/ipc_server.h", "/usr/include/mbvipc/ipc_client.h", "/usr/include/mbvipc/ipcscope_section.h",
                  "/usr/lib/libmbvipc.a", "/usr/lib/libmbvipc.so", "/usr/lib/libmbvipc.so.1", "/usr/lib/pkgconfig/mbvipc.pc"] {
            #expect(access(dest + f, R_OK) == 0, "missing \(f)")
        }
        let env = ["PKG_CONFIG_PATH": dest + "/usr/lib/pkgconfig", "PKG_CONFIG_SYSROOT_DIR": dest,
                   "PKG_CONFIG_LIBDIR": dest + "/usr/lib/pkgconfig"]
        let flags = scope.run("/usr/bin/pkg-config", ["--cflags", "--libs", "mbvipc"], timeout: 30, environment: env)
        try #require(flags.exitStatus == 0, "\(flags.stderr)")
        let args = flags.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        #expect(args.contains("-I" + dest + "/usr/include/mbvipc"), "\(args)")
        let server = scope.directory + "/echo_server", client = scope.directory + "/client"
        let cs = scope.run("/usr/bin/c++", ["-std=c++11", "-Wall", "-Werror", "-o", server,
                                            CLib.root + "/demo/c++/echo_server.cpp"] + args, timeout: 120)
        try #require(cs.exitStatus == 0, "\(cs.stderr)")
        let cc = scope.run("/usr/bin/cc", ["-std=c99", "-Wall", "-Werror", "-o", client, CLib.root + "/demo/c++/client.c"] + args,
                           timeout: 120)
        try #require(cc.exitStatus == 0, "\(cc.stderr)")
        // Linked against the installed shared library.
        let run = ["LD_LIBRARY_PATH": dest + "/usr/lib"]
        let name = scope.serviceName("pkgcfg")
        let s = scope.spawn(server, [name], environment: run)
        #expect(s.waitForOutput("serving '\(name)'", timeout: 10), "\(s.stderr)")
        let c = scope.run(client, [name, "from the installed library"], timeout: 10, environment: run)
        #expect(c.stdout == "Reply: from the installed library\n", "\(c.stdout.debugDescription) \(c.stderr)")
        let ldd = scope.run("/usr/bin/ldd", [client], timeout: 30, environment: run)
        #expect(ldd.stdout.contains(dest + "/usr/lib/libmbvipc.so.1"), "\(ldd.stdout)")
        s.signal(SIGINT)
        #expect(s.wait(timeout: 5) == 0)
        #expect(s.stdout.contains("echo_server: stopped"))
        #expect(!scope.objectExists(name), "a clean stop removes the section")
    }

    @Test("lesson 7 (demo/lesson7-cpp-server.sh --check): the C++ echo server and the C client, watched")
    func lesson7() throws {
        _ = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let lesson = scope.run("/bin/bash", [CLib.root + "/demo/lesson7-cpp-server.sh", "--check"], timeout: 120,
                               environment: ["IPCSCOPE_BIN": productsDirectory])
        let transcript = lesson.stdout + lesson.stderr
        #expect(lesson.exitStatus == 0, "\(transcript)")
        #expect(lesson.stdout.contains("lesson7-cpp-server: every check passed"), "\(transcript)")
        #expect(!lesson.stdout.contains("FAIL:"), "\(transcript)")
        #expect(!scope.objectExists("lesson7-\(lesson.pid)"), "the lesson removed its section")
    }

    @Test("the SwiftPM target MBVIPC is the same library: a C client linked from its objects calls a Swift server")
    func swiftPMBuildsIt() throws {
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let objects = ["ipc_core", "ipc_core_client", "ipc_core_server", "ipc_posix"].map {
            productsDirectory + "/MBVIPC.build/\($0).c.o"
        }
        for o in objects { try #require(access(o, R_OK) == 0, "swift build did not compile \(o)") }
        let exe = scope.directory + "/c_probe"
        let c = scope.run("/usr/bin/cc", ["-std=c99"] + CLib.warnings + CLib.includes +
                          ["-o", exe, CLib.root + "/Tests/CLibrary/c_probe.c"] + objects + ["-lpthread"], timeout: 120)
        try #require(c.exitStatus == 0, "\(c.stderr)")
        let name = scope.serviceName("spm")
        _ = scope.startEchoServer(name)
        let r = scope.run(exe, ["call", name, "5", "built by SwiftPM"], timeout: 10)
        #expect(r.stdout.contains("reply status=0 size=16 text=built by SwiftPM"), "\(r.stdout) \(r.stderr)")
    }
}
