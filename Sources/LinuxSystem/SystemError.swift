#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which call, and the errno it returned.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call as messages name it, with arguments where they help (`mmap(4096 bytes)`).
    public var call: String
    /// The error number it failed with.
    public var errno: Int32

    /// A failure of `call` with `errno`.
    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}
