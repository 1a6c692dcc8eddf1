internal import CSystemLibraries
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Whether this process may use the kernel path here, checked by doing the smallest real thing:
/// creating a BPF map. Tests skip with this reason; the agent prints it.
public enum KernelSupport {
    /// nil when BPF works for this process; otherwise what is missing, in words.
    public static func missingCapability() -> String? {
        let fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, nil, 4, 4, 1, nil)
        if fd >= 0 {
            close(fd)
            return nil
        }
        let error = SystemError("bpf(BPF_MAP_CREATE)", errno: errno)
        if error.errno == EPERM || error.errno == EACCES {
            return "BPF is not permitted for this process (\(error)); it needs \(KernelPathError.bpfPrivileges), as root has"
        }
        return "BPF is unavailable here (\(error))"
    }
}
