/// The unwind table covering a runtime address, and how the file was placed in memory.
///
/// It holds the table's rows, not the table (`UnwindTable.Rows`: no reference counting as the
/// walker asks for a mapping at every frame). Whoever answers `UnwindTableLookup` keeps the table
/// alive for the whole walk.
public struct UnwindTableMapping: Sendable {
    /// The rules of the file mapped there.
    public var rows: UnwindTable.Rows
    /// Runtime address − file virtual address for the mapping (0 for a non-PIE executable).
    public var loadBias: UInt64

    /// `table` placed at `loadBias`; the caller keeps `table` alive while the mapping is used.
    public init(table: UnwindTable, loadBias: UInt64) {
        rows = table.rows
        self.loadBias = loadBias
    }
}

/// Finds the table for a runtime address of the process being unwound: in the engine, the
/// process's cached mappings and the per-file table cache. The walker is generic over it, so a
/// lookup costs a direct (inlinable) call, not an existential or an allocation per frame.
public protocol UnwindTableLookup {
    /// The table and load bias of the file mapped at `address`, or nil when no file with a
    /// table is mapped there (anonymous memory, a file whose table is not built). The table must
    /// stay alive until the walk that asked returns.
    func mapping(containing address: UInt64) -> UnwindTableMapping?
}
