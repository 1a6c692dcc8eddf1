/// An executable or library file as a processor identified it (upstream
/// `reporter.ExecutableMetadataArgs`): the `FileID` its converted frames carry, the path it was
/// mapped from, and its GNU build id when it has one.
public struct ExecutableMetadata: Hashable, Sendable {
    /// The id the processor's converted frames carry for this file (`Trace.files`).
    public var fileID: FileID
    /// The path the file was mapped from, as the process's mappings name it.
    public var fileName: String
    /// Lower-case hex, as `file` and `readelf -n` print it.
    public var buildID: String?

    /// Metadata for one file; `buildID` is nil when the file has none.
    public init(fileID: FileID, fileName: String, buildID: String?) {
        self.fileID = fileID
        self.fileName = fileName
        self.buildID = buildID
    }
}
