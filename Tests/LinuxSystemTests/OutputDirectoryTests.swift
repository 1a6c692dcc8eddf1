import Foundation
import LinuxSystem
import Testing

/// The output directory as someone who can write into it, or an unlucky operator, meets it.
@Suite struct OutputDirectoryTests {
    private func scratch(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("th-output-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aPlantedSymbolicLinkIsReplacedNotFollowed() throws {
        let directory = try scratch("symlink")
        let victim = directory + "-victim"
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: victim) }
        try FileManager.default.createSymbolicLink(atPath: directory + "/profile.pb.gz", withDestinationPath: victim)

        try OutputDirectory(path: directory).write("profile.pb.gz", bytes: Array("result".utf8))

        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: directory + "/profile.pb.gz", encoding: .utf8) == "result")
        let kind = try FileManager.default.attributesOfItem(atPath: directory + "/profile.pb.gz")[.type] as? FileAttributeType
        #expect(kind == .typeRegular)
    }

    @Test func aFailedWriteLeavesTheOldFileWhole() throws {
        let directory = try scratch("atomic")
        let outputs = try OutputDirectory(path: directory)
        try outputs.write("profile.folded") { (writer: inout OutputWriter) throws(OutputDirectoryError) in try writer.append(line: "old 1") }
        struct Interrupted: Error {}
        #expect(throws: OutputDirectoryError.self) {
            try outputs.write("profile.folded") { (writer: inout OutputWriter) throws(OutputDirectoryError) in
                try writer.append(line: "new 1")
                throw OutputDirectoryError(path: directory, "disk full", errno: ENOSPC)
            }
        }
        #expect(try String(contentsOfFile: directory + "/profile.folded", encoding: .utf8) == "old 1\n")
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [OutputDirectory.lockName, "profile.folded"])
    }

    @Test func aSecondRunIntoTheSameDirectoryIsRefused() throws {
        let directory = try scratch("lock")
        do {
            let first = try OutputDirectory(path: directory)
            #expect(throws: OutputDirectoryError.self) { _ = try OutputDirectory(path: directory) }
            withExtendedLifetime(first) {}
        }
        // Once the first is done, the directory is free again.
        _ = try OutputDirectory(path: directory)
    }

    @Test func aRegularFileOrAnUnwritableDirectoryIsRefusedAtTheStart() throws {
        let directory = try scratch("not-a-directory")
        let file = directory + "/file"
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(throws: OutputDirectoryError.self) { _ = try OutputDirectory(path: file) }
        #expect(throws: OutputDirectoryError.self) { _ = try OutputDirectory(path: file + "/below") }
        // Read-only (also for root): a read-only bind mount would need privileges the test may
        // lack, so /proc stands in: a directory nobody can create files in.
        #expect(throws: OutputDirectoryError.self) { _ = try OutputDirectory(path: "/proc/self") }
    }

    @Test func aFIFOPlantedAsTheLockDoesNotHang() throws {
        let directory = try scratch("fifo")
        #expect(mkfifo(directory + "/" + OutputDirectory.lockName, 0o644) == 0)
        #expect(throws: OutputDirectoryError.self) { _ = try OutputDirectory(path: directory) }
    }
}
