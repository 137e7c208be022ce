import Foundation
import Model

/// A progress bar with rate and ETA on a terminal (stderr); plain periodic lines otherwise.
public final class Progress {
    let total: Int, label: String, enabled: Bool
    let tty: Bool
    let start = Date()
    var last = Date.distantPast

    public init(total: Int, label: String, enabled: Bool = true) {
        self.total = max(total, 1); self.label = label; self.enabled = enabled
        tty = isatty(2) == 1
    }

    public func update(_ done: Int, extra: String = "") {
        guard enabled else { return }
        let now = Date()
        let interval = tty ? 0.1 : 5.0
        guard now.timeIntervalSince(last) >= interval || done >= total else { return }
        last = now
        let el = now.timeIntervalSince(start)
        let rate = el > 0 ? Double(done) / el : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let frac = Double(done) / Double(total)
        if tty {
            let width = 30, filled = Int(frac * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\r%@ %@ %3.0f%% %d/%d  %.1f/s  ETA %@ %@", label, bar, frac * 100, done, total, rate, Self.clock(eta), extra)
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            let line = String(format: "%@: %d/%d (%.0f%%) %.1f/s ETA %@ %@\n", label, done, total, frac * 100, rate, Self.clock(eta), extra)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    public func finish() {
        guard enabled, tty else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
