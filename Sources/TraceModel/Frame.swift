public import CTraceRecord

/// One frame of a raw trace (upstream `host.Frame`).
///
/// Laid out exactly as the C `th_frame` it wraps, so a raw record's frame array can be read in place.
public struct Frame: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    @usableFromInline
    var raw: th_frame

    /// A frame as the BPF side writes it. `fileID` 0 means unknown (a frame-pointer walk cannot know
    /// it); `isReturnAddress` marks the return address of a caller frame.
    @inlinable
    public init(fileID: HostFileID = HostFileID(rawValue: 0), addressOrLine: UInt64, type: FrameType,
                isReturnAddress: Bool = false) {
        raw = th_frame()  // zeroes `pad`, which is hashed
        raw.file_id = fileID.rawValue
        raw.address_or_line = addressOrLine
        raw.kind = type.rawValue
        raw.return_address = isReturnAddress ? 1 : 0
    }

    @inlinable
    init(raw: th_frame) { self.raw = raw }

    /// The BPF side's id of the file the frame lies in; 0 when unknown.
    @inlinable public var fileID: HostFileID { HostFileID(rawValue: raw.file_id) }
    /// The virtual address for native and kernel frames; the line for interpreter frames.
    @inlinable public var addressOrLine: UInt64 { raw.address_or_line }
    /// What produced the frame, error bit included.
    @inlinable public var type: FrameType { FrameType(rawValue: raw.kind) }
    /// True when `addressOrLine` is a return address (every caller frame of a native walk): the call
    /// site is the byte before it.
    @inlinable public var isReturnAddress: Bool { raw.return_address != 0 }

    public static func == (a: Frame, b: Frame) -> Bool {
        a.raw.file_id == b.raw.file_id && a.raw.address_or_line == b.raw.address_or_line
            && a.raw.kind == b.raw.kind && a.raw.return_address == b.raw.return_address
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(raw.file_id)
        hasher.combine(raw.address_or_line)
        hasher.combine(raw.kind)
        hasher.combine(raw.return_address)
    }

    public var description: String {
        "\(type)@0x\(String(addressOrLine, radix: 16))" + (isReturnAddress ? "(ret)" : "")
    }
}
