import ArgumentParser

@main
struct TraceHandlerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracehandler",
        abstract: "Deduplicates, converts and reports stack traces.",
        subcommands: [ProfileCommand.self, SyntheticCommand.self, ConfigCommand.self],
        defaultSubcommand: SyntheticCommand.self
    )
}
