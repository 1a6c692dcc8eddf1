import ArgumentParser

/// `tracehandler-bench SCENARIO`: measurements a user runs on their own machine and kernel. A
/// program apart from the agent, so that the agent links none of what only measuring needs (the
/// libbpf baseline consumer, the allocation counter that replaces `malloc`, HdrHistogram).
@main
struct BenchToolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracehandler-bench",
        abstract: "Measure the engine and the kernel path on this machine.",
        subcommands: [SyntheticBenchCommand.self, SweepBenchCommand.self, KernelBenchCommand.self, AgentBenchCommand.self, SymbolizeBenchCommand.self,
            OTLPEncodingBenchCommand.self, OffCPUBenchCommand.self, SpinCommand.self, PingPongCommand.self,
        ]
    )
}
