public import TraceModel

/// How a frame of a converted trace is named in text output: its symbol when it has one, else its
/// address in hex; kernel frames carry flamegraph.pl's `_[k]` annotation so they are coloured apart.
public enum FrameNames {
    public static func name(of trace: Trace, at index: Int) -> String {
        name(trace.symbols[index] ?? "0x" + String(trace.linenos[index], radix: 16), type: trace.frameTypes[index])
    }

    /// A kept frame's name (`InternedFrames`), as `name(of:at:)` names it in a trace.
    public static func name(_ symbol: String, type: FrameType) -> String {
        sanitized(type.interpreter == .kernel ? symbol + "_[k]" : symbol)
    }

    /// Folded stacks separate frames with ';' and end a line with ' count': a name keeps neither.
    static func sanitized(_ name: String) -> String {
        guard name.contains(where: { $0 == ";" || $0 == "\n" }) else { return name }
        return String(name.map { $0 == ";" ? ":" : $0 == "\n" ? " " : $0 })
    }
}
