import AgentConfiguration
import ArgumentParser
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// `tracehandler config`: the configuration, documented.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the documented default configuration file, or check and print a configuration."
    )

    @Flag(help: "Print every key with its meaning, allowed values and default, as a YAML file.")
    var printDefaults = false
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        if printDefaults {
            print(AgentConfiguration().yamlFile(), terminator: "")
            return
        }
        let configuration = try await options.load()
        print(configuration.yamlFile(), terminator: "")
    }
}

/// `--config FILE` and `--set key=value`, shared by every command that runs the agent.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "A YAML or JSON configuration file (`tracehandler config --print-defaults` writes one).")
    var config: String?
    @Option(name: .customLong("set"), help: "Set a configuration key, e.g. --set rings.symbolize.capacity=2048 (repeatable).")
    var settings: [String] = []

    /// Loads and validates: flags (`extra`, then `--set`), environment, file, defaults.
    func load(extra: [String] = []) async throws -> AgentConfiguration {
        let configuration = try await AgentConfiguration.load(
            file: config, environment: environmentVariables(), settings: extra + settings)
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
        return configuration
    }
}

/// The process environment as a dictionary.
func environmentVariables() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
        pointer += 1
    }
    return result
}
