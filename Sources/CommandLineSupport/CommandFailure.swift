/// A run that could not be done, for a reason that is not a wrong argument: printed as
/// `Error: …` without the usage text, with a non-zero exit.
public struct CommandFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
