import AgentConfiguration
import ArgumentParser
import CommandLineSupport

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
