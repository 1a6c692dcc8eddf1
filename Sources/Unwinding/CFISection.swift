/// The bytes of one call-frame information section of an ELF file, and where the file places it.
/// Borrowed for the duration of a table build only; nothing keeps the pointer.
public struct CFISection {
    /// Which of the two formats the bytes are in. They differ in the CIE id, the meaning of an
    /// FDE's CIE pointer, and how addresses are stored.
    public enum Format: Sendable {
        /// `.eh_frame`: CIE id 0, FDE → CIE pointers relative to the pointer's own position,
        /// addresses in the CIE's `DW_EH_PE_*` encoding.
        case ehFrame
        /// `.debug_frame`: CIE id all ones, FDE → CIE pointers as section offsets, absolute addresses.
        case debugFrame
    }

    /// The section's contents, as in the file.
    public var bytes: UnsafeRawBufferPointer
    /// The section's virtual address in the file (`sh_addr`): `DW_EH_PE_pcrel` addresses are
    /// relative to it. Unused by `.debug_frame`.
    public var virtualAddress: UInt64
    /// `.eh_frame` or `.debug_frame`.
    public var format: Format
    /// The base of `DW_EH_PE_textrel` pointers, when the caller knows it; FDEs that need it and
    /// don't have it are skipped (`CFISkipReason.unsupportedPointerEncoding`). gcc never emits it
    /// on x86-64.
    public var textBase: UInt64?
    /// The base of `DW_EH_PE_datarel` pointers (on x86-64, the `.got` address), likewise.
    public var dataBase: UInt64?

    /// Describes a section; `bytes` must stay valid until the table is built.
    public init(bytes: UnsafeRawBufferPointer, virtualAddress: UInt64, format: Format, textBase: UInt64? = nil, dataBase: UInt64? = nil) {
        self.bytes = bytes
        self.virtualAddress = virtualAddress
        self.format = format
        self.textBase = textBase
        self.dataBase = dataBase
    }
}
