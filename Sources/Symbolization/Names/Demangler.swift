internal import CDemangle

#if canImport(Glibc)
import Glibc
#endif

/// Display names for mangled symbols: Swift (`$s…`, `_$s…`, `$S…`), C++ and legacy Rust
/// (`_Z…`, via libstdc++'s `__cxa_demangle`). Other names, and names the demanglers reject, are
/// returned unchanged. Rust's v0 scheme (`_R…`) is kept as it is.
public enum Demangler {
    /// `name` demangled when it is a Swift, C++ or legacy Rust name its demangler accepts; else
    /// `name` unchanged.
    public static func demangle(_ name: String) -> String {
        if name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S") || name.hasPrefix("_T0") {
            return take(name.utf8CString.withUnsafeBufferPointer { th_demangle_swift($0.baseAddress, $0.count - 1) }) ?? name
        }
        if name.hasPrefix("_Z") {
            return take(th_demangle_cxx(name)) ?? name
        }
        return name
    }

    private static func take(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { free(pointer) }
        let length = strlen(pointer)
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}
