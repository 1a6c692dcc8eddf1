internal import CTraceRecord

/// What produced a frame (upstream `libpf.FrameType`, the BPF side's `FRAME_MARKER_*` values).
///
/// The high bit marks an error frame: one the unwinder or the symbolizer could not resolve. Such a
/// frame keeps its address and its interpreter kind; it is never dropped from a trace.
///
/// The kinds are inlinable constants, not stored `static let`s: a stored one is read from another
/// module through an accessor call (with its lazy-initialization check) every time, twice a frame in
/// the symbolizer. `FrameTypeTests` checks each value against the BPF side's `TH_FRAME_*`.
public struct FrameType: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The BPF side's `FRAME_MARKER_*` value; bit 7 is the error bit.
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The producer is not known.
    @inlinable public static var unknown: FrameType { FrameType(rawValue: 0x00) }  // TH_FRAME_UNKNOWN
    /// A CPython interpreter frame.
    @inlinable public static var python: FrameType { FrameType(rawValue: 0x01) }  // TH_FRAME_PYTHON
    /// A PHP interpreter frame.
    @inlinable public static var php: FrameType { FrameType(rawValue: 0x02) }  // TH_FRAME_PHP
    /// Machine code of an ELF executable or library.
    @inlinable public static var native: FrameType { FrameType(rawValue: 0x03) }  // TH_FRAME_NATIVE
    /// A kernel frame.
    @inlinable public static var kernel: FrameType { FrameType(rawValue: 0x04) }  // TH_FRAME_KERNEL
    /// A HotSpot JVM frame (`jvm` in output).
    @inlinable public static var hotSpot: FrameType { FrameType(rawValue: 0x05) }  // TH_FRAME_HOTSPOT
    /// A Ruby interpreter frame.
    @inlinable public static var ruby: FrameType { FrameType(rawValue: 0x06) }  // TH_FRAME_RUBY
    /// A Perl interpreter frame.
    @inlinable public static var perl: FrameType { FrameType(rawValue: 0x07) }  // TH_FRAME_PERL
    /// A V8 JavaScript frame (`v8js` in output).
    @inlinable public static var v8: FrameType { FrameType(rawValue: 0x08) }  // TH_FRAME_V8
    /// PHP code compiled by its JIT.
    @inlinable public static var phpJIT: FrameType { FrameType(rawValue: 0x09) }  // TH_FRAME_PHP_JIT
    /// A .NET runtime frame.
    @inlinable public static var dotnet: FrameType { FrameType(rawValue: 0x0a) }  // TH_FRAME_DOTNET
    /// A LuaJIT frame.
    @inlinable public static var luaJIT: FrameType { FrameType(rawValue: 0x0b) }  // TH_FRAME_LUAJIT
    /// Unwinding stopped here because of an error; carries no address.
    @inlinable public static var abort: FrameType { FrameType(rawValue: 0xff) }  // TH_FRAME_ABORT

    static let errorBit = UInt8(TH_FRAME_ERROR_BIT)

    /// True for frames that could not be unwound or symbolized (the error bit is set; as upstream,
    /// `abort` counts as one).
    @inlinable
    public var isError: Bool { rawValue & 0x80 != 0 }

    /// This kind with the error bit set: the frame keeps its address but is marked unresolved.
    @inlinable
    public var asError: FrameType { self == .abort ? self : FrameType(rawValue: rawValue | 0x80) }

    /// The kind without the error bit.
    @inlinable
    public var interpreter: FrameType { self == .abort ? .unknown : FrameType(rawValue: rawValue & 0x7f) }

    public var description: String {
        if self == .abort { return "abort-marker" }
        let name: String
        switch interpreter {
        case .python: name = "python"
        case .php: name = "php"
        case .native: name = "native"
        case .kernel: name = "kernel"
        case .hotSpot: name = "jvm"
        case .ruby: name = "ruby"
        case .perl: name = "perl"
        case .v8: name = "v8js"
        case .phpJIT: name = "phpjit"
        case .dotnet: name = "dotnet"
        case .luaJIT: name = "luajit"
        case .unknown: name = "unknown"
        default: name = "type\(interpreter.rawValue)"
        }
        return isError ? name + "-error" : name
    }
}
