import LinuxSystem

/// The CPUs the kernel lists as online (`/sys/devices/system/cpu/online`, e.g. "0-3,6").
public enum OnlineCPUs {
    /// The online CPUs, ascending (`/sys/devices/system/cpu/online`); empty if it cannot be read.
    public static func read() -> [Int] {
        FileContents.text("/sys/devices/system/cpu/online").map(parse) ?? []
    }

    /// Parses the kernel's CPU list format; malformed parts are ignored.
    static func parse(_ list: String) -> [Int] {
        var cpus: [Int] = []
        for part in list.split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
            let bounds = part.split(separator: "-")
            if bounds.count == 1, let cpu = Int(bounds[0]) {
                cpus.append(cpu)
            } else if bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]), first <= last {
                cpus.append(contentsOf: first...last)
            }
        }
        return cpus
    }
}
