public import AgentConfiguration
public import ArgumentParser
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// `--config FILE` and `--set key=value`, shared by every command that runs the agent.
public struct ConfigurationOptions: ParsableArguments {
    @Option(help: "A YAML or JSON configuration file (`tracehandler config --print-defaults` writes one).")
    public var config: String?
    @Option(name: .customLong("set"), help: "Set a configuration key, e.g. --set rings.symbolize.capacity=2048 (repeatable).")
    public var settings: [String] = []

    public init() {}

    /// Loads and validates: flags (`extra`, then `--set`), environment, file, defaults.
    public func load(extra: [String] = []) async throws -> AgentConfiguration {
        let configuration = try await AgentConfiguration.load(
            file: config, environment: environmentVariables(), settings: extra + settings)
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
        return configuration
    }
}

/// The process environment as a dictionary.
public func environmentVariables() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
        pointer += 1
    }
    return result
}
