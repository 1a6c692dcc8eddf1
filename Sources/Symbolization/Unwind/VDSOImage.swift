internal import CLinuxShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's vDSO as a file the ELF reader can open: a copy of this process's own `[vdso]`
/// mapping in a memfd. Every process on one kernel maps the same image, so its CFI (and its
/// symbols) serve all of them; only where it is mapped differs, and the mapping says that.
/// Samples in `clock_gettime` and `gettimeofday` land here, and without its `.eh_frame` the walk
/// would end at their leaf.
enum VDSOImage {
    /// An open descriptor of the copy, made once; nil when this process has no vDSO.
    static let descriptor: Int32? = make()

    private static func make() -> Int32? {
        let base = UInt64(th_vdso_base())
        guard base != 0, let maps = FileContents.text("/proc/self/maps") else { return nil }
        // The mapping's size, from our own maps: the image is no larger than it.
        guard let mapping = ProcessMaps.parse(maps).first(where: { $0.path == "[vdso]" && $0.start == base }) else { return nil }
        let fd = th_memfd_create("th-vdso")
        guard fd >= 0 else { return nil }
        let size = Int(mapping.end - mapping.start)
        let written = write(fd, UnsafeRawPointer(bitPattern: UInt(base)), size)
        guard written == size else {
            close(fd)
            return nil
        }
        return fd
    }
}
