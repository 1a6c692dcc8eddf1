import ArgumentParser

/// `tracehandler bench SCENARIO`: measurements a user runs on their own machine and kernel.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the engine and the kernel path on this machine.",
        subcommands: [SyntheticBenchCommand.self, SweepBenchCommand.self, KernelBenchCommand.self]
    )
}
