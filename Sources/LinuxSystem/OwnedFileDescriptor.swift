#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor with one owner, closed exactly once when the owner goes away.
///
/// `~Copyable`, so it cannot be closed twice through two copies; an `init` that acquires several
/// resources keeps each in one of these (or in `MemoryMapping`) until the last step that can
/// fail has passed, so a failure releases each of them once, by its own `deinit`.
public struct OwnedFileDescriptor: ~Copyable {
    /// The descriptor, open while this value lives; its users must not close it.
    public let rawValue: Int32

    /// Takes ownership of `rawValue` (an open descriptor).
    public init(taking rawValue: Int32) {
        precondition(rawValue >= 0, "not an open file descriptor")
        self.rawValue = rawValue
    }

    deinit { close(rawValue) }
}

/// A memory mapping with one owner, unmapped exactly once when the owner goes away.
public struct MemoryMapping: ~Copyable {
    /// The first byte mapped, valid while this value lives.
    public let base: UnsafeMutableRawPointer
    /// Bytes mapped.
    public let size: Int

    /// Maps `size` bytes of `descriptor` from offset 0, shared and read-write (a kernel buffer).
    public init(sharedReadWrite descriptor: borrowing OwnedFileDescriptor, size: Int) throws(SystemError) {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor.rawValue, 0), base != MAP_FAILED else {
            throw SystemError("mmap(\(size) bytes)", errno: errno)
        }
        self.base = base
        self.size = size
    }

    deinit { munmap(base, size) }
}

/// Runs a system call that reports failure as -1 and errno: retries it on EINTR, and throws a
/// `SystemError` naming `call` for any other errno, read at once.
@discardableResult
public func systemCall<Result: BinaryInteger>(_ call: @autoclosure () -> String, _ body: () -> Result) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = errno
        if error != EINTR { throw SystemError(call(), errno: error) }
    }
}
