import TraceModel

/// How a frame of a converted trace is named in text output: its symbol when it has one, else its
/// address in hex; kernel frames carry flamegraph.pl's `_[k]` annotation so they are coloured apart.
enum FrameNames {
    /// A kept frame's name (`InternedFrames`: its symbol, or `0x…` of its address).
    static func name(_ symbol: String, type: FrameType) -> String {
        sanitized(type.interpreter == .kernel ? symbol + "_[k]" : symbol)
    }

    /// Folded stacks separate frames with ';' and end a line with ' count': a name keeps neither.
    static func sanitized(_ name: String) -> String {
        guard name.contains(where: { $0 == ";" || $0 == "\n" }) else { return name }
        return String(name.map { $0 == ";" ? ":" : $0 == "\n" ? " " : $0 })
    }
}
