import Foundation

/// Programs compiled for the tests with the toolchain's clang: an executable (PIE or not) with
/// known functions, calling into a shared library with known functions.
enum Fixtures {
    /// `th_lib_work` is hidden: its address, taken inside the library, is its real one (a non-PIE
    /// executable taking an exported function's address gets its own PLT stub instead).
    static let library = """
        #include <stdint.h>
        __attribute__((noinline, visibility("hidden"))) uint64_t th_lib_work(uint64_t x) {
            for (int i = 0; i < 1000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
            return x;
        }
        __attribute__((noinline)) uint64_t th_lib_spin(uint64_t x) { return th_lib_work(x) + 1; }
        unsigned long th_lib_work_address(void) { return (unsigned long)th_lib_work; }
        """

    static let program = """
        #include <stdint.h>
        #include <stdio.h>
        #include <unistd.h>
        uint64_t th_lib_spin(uint64_t x);
        unsigned long th_lib_work_address(void);
        __attribute__((noinline)) uint64_t th_alpha(uint64_t x) { return th_lib_spin(x) ^ 3; }
        __attribute__((noinline)) uint64_t th_beta(uint64_t x) { return th_alpha(x) + th_alpha(x + 1); }
        int main(int argc, char **argv) {
            printf("%lx %lx %lx\\n", (unsigned long)th_alpha, (unsigned long)th_beta, th_lib_work_address());
            fflush(stdout);
            uint64_t x = 1;
            if (argc > 1) for (;;) x = th_beta(x);
            return (int)(x & 1);
        }
        """

    struct Built {
        let directory: URL
        var library: String { directory.appendingPathComponent("libthfixture.so").path }
        var strippedLibrary: String { directory.appendingPathComponent("libthfixture-stripped.so").path }
        var pie: String { directory.appendingPathComponent("fixture-pie").path }
        var nonPIE: String { directory.appendingPathComponent("fixture-nopie").path }
    }

    /// Builds once per test process.
    static let built: Result<Built, Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("th-symbolization-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let built = Built(directory: directory)
        let librarySource = directory.appendingPathComponent("lib.c").path
        let programSource = directory.appendingPathComponent("main.c").path
        try library.write(toFile: librarySource, atomically: true, encoding: .utf8)
        try program.write(toFile: programSource, atomically: true, encoding: .utf8)
        let frames = ["-O1", "-g0", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-Wl,--build-id"]
        try run(clang(), frames + ["-shared", "-fPIC", "-o", built.library, librarySource])
        try run(clang(), frames + ["-fPIE", "-pie", "-o", built.pie, programSource, "-L", directory.path, "-lthfixture", "-Wl,-rpath," + directory.path])
        try run(clang(), frames + ["-fno-pie", "-no-pie", "-o", built.nonPIE, programSource, "-L", directory.path, "-lthfixture", "-Wl,-rpath," + directory.path])
        try run("/usr/bin/objcopy", ["--strip-all", built.library, built.strippedLibrary])
        return built
    }

    /// `nm --defined-only` of `path`: name → address.
    static func nm(_ path: String, dynamic: Bool = false) throws -> [String: UInt64] {
        let output = try run("/usr/bin/nm", (dynamic ? ["-D"] : []) + ["--defined-only", path])
        var symbols: [String: UInt64] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, let address = UInt64(fields[0], radix: 16) { symbols[String(fields[2])] = address }
        }
        return symbols
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FixtureError("\(executable) \(arguments) exited \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    static func clang() -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(directory)/swift"), FileManager.default.isExecutableFile(atPath: "\(directory)/clang") {
                return "\(directory)/clang"
            }
        }
        return "/opt/swift/usr/bin/clang"
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// A running fixture: it prints the runtime addresses of th_alpha, th_beta and th_lib_work, then
/// spins in th_beta until killed.
struct RunningFixture {
    let process: Process
    let alpha: UInt64
    let beta: UInt64
    let libWork: UInt64
    var pid: UInt32 { UInt32(process.processIdentifier) }

    init(path: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["spin"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let fields = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0, radix: 16) }
        guard fields.count == 3 else { throw Fixtures.FixtureError("fixture printed \(String(decoding: line, as: UTF8.self))") }
        (alpha, beta, libWork) = (fields[0], fields[1], fields[2])
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
