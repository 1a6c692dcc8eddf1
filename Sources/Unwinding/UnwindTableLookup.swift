/// The unwind table covering a runtime address, and how the file was placed in memory.
public struct UnwindTableMapping: Sendable {
    /// The table of the file mapped there.
    public var table: UnwindTable
    /// Runtime address − file virtual address for the mapping (0 for a non-PIE executable).
    public var loadBias: UInt64

    /// A table placed at `loadBias`.
    public init(table: UnwindTable, loadBias: UInt64) {
        self.table = table
        self.loadBias = loadBias
    }
}

/// Finds the table for a runtime address of the process being unwound: in the engine, the
/// process's cached mappings and the per-file table cache. The walker is generic over it, so a
/// lookup costs a direct (inlinable) call, not an existential or an allocation per frame.
public protocol UnwindTableLookup {
    /// The table and load bias of the file mapped at `address`, or nil when no file with a
    /// table is mapped there (anonymous memory, a file whose table is not built).
    func mapping(containing address: UInt64) -> UnwindTableMapping?
}
