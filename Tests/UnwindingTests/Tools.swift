import Foundation
@testable import Unwinding

enum Tools {
    /// Runs a program, returns its standard output; throws when it fails.
    @discardableResult
    /// `acceptingFailure`: readelf exits with 1 on libc.so.6 (no `.debug_*` sections to dump)
    /// after printing everything we need.
    static func run(_ executable: String, _ arguments: [String], acceptingFailure: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 || acceptingFailure else {
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A fresh directory for this test process's compiled fixtures.
    static let scratch: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("unwinding-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }()

    /// Compiles C `source` with gcc into `name` in the scratch directory.
    static func compile(_ source: String, name: String, flags: [String]) throws -> String {
        let sourcePath = scratch.appendingPathComponent(name + ".c").path
        let output = scratch.appendingPathComponent(name).path
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        try run("/usr/bin/gcc", flags + ["-o", output, sourcePath])
        return output
    }

    /// `nm --defined-only -S` of a file: symbols with their ranges, sorted by address.
    static func symbols(_ path: String, dynamic: Bool = false) throws -> [(name: String, start: UInt64, end: UInt64)] {
        let output = try run("/usr/bin/nm", (dynamic ? ["-D"] : []) + ["--defined-only", "-S", path])
        var symbols: [(name: String, start: UInt64, end: UInt64)] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4, let start = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16) else { continue }
            symbols.append((String(fields[3]), start, start + size))
        }
        return symbols.sorted { $0.start < $1.start }
    }
}

extension UnwindTable {
    /// The table of an ELF file's `.eh_frame` (and `.debug_frame` when asked), as a test builds it.
    static func load(path: String, debugFrame: Bool = false, limits: UnwindTableLimits = UnwindTableLimits()) throws -> UnwindTable {
        let elf = try ELFSections(path: path)
        let eh = elf.bytes(of: ".eh_frame")
        let debug = debugFrame ? elf.bytes(of: ".debug_frame") : nil
        return try (eh?.bytes ?? []).withUnsafeBytes { ehBytes in
            try (debug?.bytes ?? []).withUnsafeBytes { debugBytes in
                try UnwindTable(
                    ehFrame: eh.map { CFISection(bytes: ehBytes, virtualAddress: $0.address, format: .ehFrame) },
                    debugFrame: debug.map { CFISection(bytes: debugBytes, virtualAddress: $0.address, format: .debugFrame) },
                    limits: limits
                )
            }
        }
    }
}
