#if canImport(Glibc)
import Glibc
#endif

/// A file in memory whose contents each input replaces, named by its `/proc/self/fd/N` path: the
/// code under test opens files by path (as it opens `/proc/<pid>/map_files/...`).
///
/// It lives in /dev/shm (tmpfs), so millions of runs stay off the disk, and is unlinked as soon
/// as it is open, so a run that crashes leaves nothing behind. (`memfd_create` would do the same,
/// but Glibc's module declares it only under `_GNU_SOURCE`.)
public final class MemoryFile: Sendable {
    public let fd: Int32
    public let path: String

    public init(name: String) {
        let created = "/dev/shm/\(name)-\(getpid())"
        fd = open(created, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "open \(created): errno \(errno)")
        unlink(created)
        path = "/proc/self/fd/\(fd)"
    }

    deinit { close(fd) }

    /// Makes the file hold exactly `bytes`.
    public func replaceContents(with bytes: UnsafeRawBufferPointer) {
        precondition(ftruncate(fd, 0) == 0, "ftruncate: errno \(errno)")
        var written = 0
        while written < bytes.count {
            let result = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(written))
            if result < 0 && errno == EINTR { continue }
            precondition(result > 0, "pwrite: errno \(errno)")
            written += result
        }
    }
}
