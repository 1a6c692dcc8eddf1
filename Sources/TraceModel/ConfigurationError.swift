/// A configuration value out of range: names the key, the value given and what is allowed. Every
/// configurable part of the product (engine, synthetic source) reports bad values with it.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The key, as the configuration file and `--set` spell it (`rings.source.capacity`).
    public var key: String
    /// The value given, as text.
    public var value: String
    /// What the key accepts, in words (`a power of two from 1 to 1048576`).
    public var allowed: String

    /// An error naming `key`, the `value` given and what is `allowed`.
    public init(key: String, value: String, allowed: String) {
        self.key = key
        self.value = value
        self.allowed = allowed
    }

    /// Throws unless `condition` holds.
    public static func check(_ condition: Bool, _ key: String, _ value: Any, allowed: String) throws(ConfigurationError) {
        if !condition { throw ConfigurationError(key: key, value: "\(value)", allowed: allowed) }
    }

    public var description: String { "configuration: \(key) = \(value) is not allowed (allowed: \(allowed))" }
}
