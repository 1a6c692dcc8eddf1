/// Bounds on what one table build may use, whatever the input says.
public struct UnwindTableLimits: Sendable {
    /// The most rows a table may hold (before merging); at the 16 bytes a row takes while the
    /// table is built, the default bounds a build at 64 MiB. A build that needs more throws
    /// `UnwindTableError.tooManyRows`.
    public var maximumRows: Int
    /// The deepest `DW_CFA_remember_state` nesting accepted; compilers use one or two levels.
    public var maximumRememberedStates: Int

    /// Limits; negative values count as 0.
    public init(maximumRows: Int = 4_000_000, maximumRememberedStates: Int = 64) {
        self.maximumRows = max(0, maximumRows)
        self.maximumRememberedStates = max(0, maximumRememberedStates)
    }
}
