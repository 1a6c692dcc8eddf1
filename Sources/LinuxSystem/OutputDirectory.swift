#if canImport(Glibc)
import Glibc
#endif

/// The directory a run writes its results into, checked and locked before the run starts and
/// written so that nobody who can write the directory can redirect or half-write what lands
/// there.
///
/// The agent runs as root; the directory may be writable by other users. So:
/// - the directory is opened once (`O_DIRECTORY`) and every file is made relative to that
///   descriptor: renaming the directory afterwards does not move where results go;
/// - each result is written to a new temporary name (`O_CREAT | O_EXCL | O_NOFOLLOW`: never an
///   existing file or a symbolic link someone planted), flushed to disk (`fsync`) and then
///   renamed over the final name. A rename replaces a planted symbolic link itself, never the
///   file it points to, and readers see the old file or the whole new one, never a part;
/// - a lock (`flock` on `.tracehandler.lock`, held while this value lives) makes a second run
///   into the same directory fail at its start instead of silently replacing the first one's
///   results.
public final class OutputDirectory {
    /// The path as given. Results go to the directory opened at init, even if it is renamed later.
    public let path: String
    private let directory: OwnedFileDescriptor
    private let lock: OwnedFileDescriptor
    private var temporaryNames = 0

    /// The lock file's name inside the directory.
    public static let lockName = ".tracehandler.lock"

    /// Makes `path` (and its parents) unless it exists, opens and locks it, and proves it
    /// writable by creating and removing a file in it.
    public init(path: String) throws(OutputDirectoryError) {
        self.path = path
        try Self.makeDirectories(path)
        let directoryFD = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw OutputDirectoryError(path: path, "cannot open it as a directory", errno: errno) }
        let directory = OwnedFileDescriptor(taking: directoryFD)
        // O_NONBLOCK: a FIFO planted under the lock's name must not hang the open.
        let lockFD = openat(directory.rawValue, Self.lockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw OutputDirectoryError(path: path, "cannot create its lock file \(Self.lockName)", errno: errno) }
        let lock = OwnedFileDescriptor(taking: lockFD)
        var status = stat()
        guard fstat(lock.rawValue, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw OutputDirectoryError(path: path, "its lock file \(Self.lockName) is not a regular file", errno: 0)
        }
        guard flock(lock.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            if error == EWOULDBLOCK {
                throw OutputDirectoryError(path: path, "another tracehandler run is writing into it", errno: 0)
            }
            throw OutputDirectoryError(path: path, "cannot lock \(Self.lockName)", errno: error)
        }
        self.directory = directory
        self.lock = lock
        // Writable (a read-only mount, a full disk for new inodes): find out now, not after sampling.
        let probe = try createTemporary(for: "write-check")
        unlinkat(self.directory.rawValue, probe.name, 0)
    }

    /// Replaces the file `name` in the directory with `bytes`, atomically; the new file gets
    /// `permissions` (0600 for what only this user should read).
    public func write(_ name: String, bytes: [UInt8], permissions: mode_t = 0o644) throws(OutputDirectoryError) {
        try write(name, permissions: permissions) { (writer: inout OutputWriter) throws(OutputDirectoryError) in try writer.append(bytes) }
    }

    /// Replaces the file `name` in the directory with what `body` appends, atomically: on any
    /// error the old file (if any) stays and the temporary one is removed.
    public func write(
        _ name: String, permissions: mode_t = 0o644, _ body: (inout OutputWriter) throws(OutputDirectoryError) -> Void
    ) throws(OutputDirectoryError) {
        precondition(!name.contains("/") && !name.isEmpty && name != "." && name != "..", "a file name, not a path")
        let temporary = try createTemporary(for: name, permissions: permissions)
        var writer = OutputWriter(descriptor: temporary.descriptor.rawValue, path: path + "/" + name)
        do throws(OutputDirectoryError) {
            try body(&writer)
            try writer.flush()
            guard fsync(temporary.descriptor.rawValue) == 0 else { throw writer.error("fsync", errno: errno) }
            guard renameat(directory.rawValue, temporary.name, directory.rawValue, name) == 0 else {
                throw writer.error("rename into place", errno: errno)
            }
        } catch {
            unlinkat(directory.rawValue, temporary.name, 0)
            throw error
        }
        // The rename itself reaches the disk with the directory.
        _ = fsync(directory.rawValue)
    }

    /// Whether only this process's user can change the directory: owned by it and writable by
    /// nobody else. What is read back from a directory that is not private may have been put
    /// there, or renamed there, by someone else.
    public var isPrivate: Bool {
        var status = stat()
        return fstat(directory.rawValue, &status) == 0 && status.st_uid == geteuid() && status.st_mode & (S_IWGRP | S_IWOTH) == 0
    }

    /// The names of the entries in the directory that `matching` accepts (read once, sorted).
    public func names(where matching: (String) -> Bool) throws(OutputDirectoryError) -> [String] {
        let fd = openat(directory.rawValue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, let stream = fdopendir(fd) else {
            let error = errno
            if fd >= 0 { close(fd) }
            throw OutputDirectoryError(path: path, "cannot list it", errno: error)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." && matching(name) { names.append(name) }
        }
        return names.sorted()
    }

    /// The bytes of the file `name` — only a regular file (never through a symbolic link) owned
    /// by this process's user, writable by nobody else, of at most `limit` bytes: the directory
    /// may be writable by others, and what is read back must be what this program wrote.
    public func readOwnFile(_ name: String, limit: Int) throws(OutputDirectoryError) -> [UInt8] {
        precondition(!name.contains("/") && !name.isEmpty, "a file name, not a path")
        let fd = openat(directory.rawValue, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw OutputDirectoryError(path: path + "/" + name, "cannot open it", errno: errno) }
        let file = OwnedFileDescriptor(taking: fd)
        var status = stat()
        guard fstat(file.rawValue, &status) == 0 else { throw OutputDirectoryError(path: path + "/" + name, "cannot stat it", errno: errno) }
        // One link: not a hard link someone made to another file of this user's.
        guard status.st_mode & S_IFMT == S_IFREG, status.st_uid == geteuid(), status.st_mode & (S_IWGRP | S_IWOTH) == 0,
            status.st_nlink == 1
        else {
            throw OutputDirectoryError(path: path + "/" + name, "not a regular file of this user, writable by nobody else, with one link", errno: 0)
        }
        guard status.st_size >= 0, status.st_size <= limit else {
            throw OutputDirectoryError(path: path + "/" + name, "larger than \(limit) bytes", errno: EFBIG)
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(file.rawValue, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw OutputDirectoryError(path: path + "/" + name, "cannot read it whole", errno: count < 0 ? errno : 0) }
            done += count
        }
        return bytes
    }

    /// Removes the file `name` (not a directory); false when it could not be removed.
    @discardableResult
    public func remove(_ name: String) -> Bool {
        precondition(!name.contains("/") && !name.isEmpty, "a file name, not a path")
        return unlinkat(directory.rawValue, name, 0) == 0
    }

    /// A new file in the directory, open for writing, and its name.
    private struct TemporaryFile: ~Copyable {
        let name: String
        let descriptor: OwnedFileDescriptor
    }

    private func createTemporary(for name: String, permissions: mode_t = 0o644) throws(OutputDirectoryError) -> TemporaryFile {
        // A name someone else made first (O_EXCL fails) is skipped, not used.
        for _ in 0..<16 {
            temporaryNames += 1
            let temporary = ".\(name).\(getpid()).\(temporaryNames).tmp"
            let fd = openat(directory.rawValue, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
            if fd >= 0 { return TemporaryFile(name: temporary, descriptor: OwnedFileDescriptor(taking: fd)) }
            let error = errno
            if error != EEXIST { throw OutputDirectoryError(path: path, "cannot create a file in it", errno: error) }
        }
        throw OutputDirectoryError(path: path, "cannot create a file in it: every temporary name is taken", errno: EEXIST)
    }

    private static func makeDirectories(_ path: String) throws(OutputDirectoryError) {
        guard !path.isEmpty else { throw OutputDirectoryError(path: path, "an empty path", errno: 0) }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw OutputDirectoryError(path: path, "cannot create \(prefix)", errno: errno)
            }
        }
    }
}

/// Appends bytes to one output file through a buffer, reporting short writes and errors.
public struct OutputWriter: ~Copyable {
    private let descriptor: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private static let bufferBytes = 1 << 20

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(Self.bufferBytes)
    }

    /// Appends `bytes` through the 1 MiB buffer, writing it out when it fills; throws when a write
    /// fails.
    public mutating func append(_ bytes: some Collection<UInt8>) throws(OutputDirectoryError) {
        if buffer.count + bytes.count > Self.bufferBytes { try flush() }
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.bufferBytes { try flush() }
    }

    /// `line` and a newline.
    public mutating func append(line: String) throws(OutputDirectoryError) {
        try append(line.utf8)
        try append(CollectionOfOne(UInt8(ascii: "\n")))
    }

    mutating func flush() throws(OutputDirectoryError) {
        var written = 0
        while written < buffer.count {
            let result = buffer.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                let code = errno
                if code == EINTR { continue }
                throw error("write", errno: code)
            }
            written += result
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func error(_ step: String, errno: Int32) -> OutputDirectoryError {
        OutputDirectoryError(path: path, "cannot \(step)", errno: errno)
    }
}

/// Why a result could not be written: the path, what failed, and the system's reason.
public struct OutputDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The directory, or the output file, the error is about.
    public var path: String
    /// What failed, as a phrase (`cannot create its lock file .tracehandler.lock`).
    public var problem: String
    /// The system's error number, or 0 when no call failed (another run holds the lock, say).
    public var errno: Int32

    /// Describes a failure; `errno` is 0 when it was not a system call's.
    public init(path: String, _ problem: String, errno: Int32) {
        self.path = path
        self.problem = problem
        self.errno = errno
    }

    public var description: String {
        "\(path): \(problem)" + (errno == 0 ? "" : " (\(String(cString: strerror(errno))))")
    }
}
