public import TraceModel

/// The DWARF unwinder's bounds (`unwind.*` keys).
public struct UnwinderConfiguration: Hashable, Sendable {
    /// `unwind.table-bytes`: memory for unwind tables (6 bytes a row; glibc ≈ 170 KB); least
    /// recently used first. Default 64 MiB (glibc, the Swift runtime and a few hundred
    /// small programs fit many times over; an 85 MB compiler alone needs about 15 MiB).
    public var tableBytes = 64 << 20
    /// Processes whose mappings each unwind worker keeps (the agent's `symbolize.processes` sets
    /// this and the symbolizer's). Default 4096.
    public var processes = 4096
    /// How old a process entry may get before pid reuse is checked. Default 1 s.
    public var revalidateAfter: Duration = .seconds(1)
    /// Where separate debug files (and their `.debug_frame`) are found.
    public var debugDirectories = ["/usr/lib/debug"]
    /// Where a file is mapped but has no CFI row for a PC (JIT code, hand-written assembly),
    /// follow the frame-pointer chain. Default true.
    public var framePointerFallback = true

    /// The defaults.
    public init() {}

    /// Checks `tableBytes` (at least 1 MiB) and `processes` (1 ... 1000000); the error names the
    /// key (as the configuration file spells it).
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.check(tableBytes >= 1 << 20, "unwind.table-bytes", tableBytes, allowed: "at least 1048576 (1 MiB)")
        try ConfigurationError.check((1...1_000_000).contains(processes), "symbolize.processes", processes, allowed: "1 ... 1000000")
    }
}
