internal import CSystemLibraries

#if canImport(Glibc)
import Glibc
#endif

/// `bpf_map_update_elem(fd, key, value, BPF_ANY)`; 0 or -errno.
func bpfMapUpdate(_ fd: Int32, _ key: UnsafeMutablePointer<UInt32>, _ value: UnsafeMutablePointer<Int32>) -> Int32 {
    let result = bpf_map_update_elem(fd, key, value, UInt64(BPF_ANY))
    return result == 0 ? 0 : (result < 0 ? result : -errno)
}
