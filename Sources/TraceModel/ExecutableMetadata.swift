/// An executable or library file as a processor identified it (upstream
/// `reporter.ExecutableMetadataArgs`): the `FileID` its converted frames carry, the path it was
/// mapped from, and its GNU build id when it has one.
public struct ExecutableMetadata: Hashable, Sendable {
    public var fileID: FileID
    public var fileName: String
    /// Lower-case hex, as `file` and `readelf -n` print it.
    public var buildID: String?

    public init(fileID: FileID, fileName: String, buildID: String?) {
        self.fileID = fileID
        self.fileName = fileName
        self.buildID = buildID
    }
}
