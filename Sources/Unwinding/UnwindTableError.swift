/// Why no table was built.
public enum UnwindTableError: Error, Equatable, Sendable {
    /// The sections describe more rows than `UnwindTableLimits.maximumRows`. A partial table
    /// would silently miss whichever functions came last in the section, so none is returned.
    case tooManyRows(limit: Int)
}
