/// A run that could not be done, for a reason that is not a wrong argument: printed as
/// `Error: …` without the usage text, with a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
