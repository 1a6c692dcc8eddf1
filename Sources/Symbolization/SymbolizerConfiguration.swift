public import TraceModel

/// The symbolizer's bounds. Defaults suit a host with a few hundred processes.
public struct SymbolizerConfiguration: Hashable, Sendable {
    /// Memory for ELF symbol tables, in bytes; least recently used tables go first. Default 64 MiB
    /// (24 bytes a function, and the names of small files: the 210 MB swift-frontend's 241 000
    /// functions take about 6 MiB, their 29 MB of names staying in the file).
    public var symbolTableBytes: Int = 64 << 20
    /// Processes whose mappings are kept. Default 4096.
    public var processes: Int = 4096
    /// How old a process entry may get before its start time is checked again (pid reuse).
    /// Default 1 s.
    public var revalidateAfter: Duration = .seconds(1)
    /// Where separate debug files are installed, searched by build id (`DIR/.build-id/xx/….debug`)
    /// and by `.gnu_debuglink` (`DIR/<the file's directory>/NAME`). Default `/usr/lib/debug`.
    public var debugDirectories: [String] = ["/usr/lib/debug"]

    /// The defaults.
    public init() {}

    /// Checks every field; the error names the key (as the configuration file spells it).
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.check(symbolTableBytes >= 1 << 20, "symbolize.symbol-table-bytes", symbolTableBytes, allowed: "at least 1048576 (1 MiB)")
        try ConfigurationError.check((1...1_000_000).contains(processes), "symbolize.processes", processes, allowed: "1 ... 1000000")
        try ConfigurationError.check(
            revalidateAfter > .zero && revalidateAfter <= .seconds(3600), "symbolize.revalidate-after-ms", revalidateAfter,
            allowed: "more than 0 s, at most 3600 s")
        try ConfigurationError.check(
            debugDirectories.count <= 16 && debugDirectories.allSatisfy { $0.hasPrefix("/") && !$0.contains(",") },
            "symbolize.debug-directories", debugDirectories.joined(separator: ","), allowed: "at most 16 absolute paths, comma-separated")
    }
}
