import Foundation
import TestSupport
import Testing
import NPY
@testable import Model
@testable import Training

/// The ecg-train binary beside the test bundle.
let trainBinary: String = {
    var u = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: u.appendingPathComponent("ecg-train").path) && u.path != "/" { u = u.deletingLastPathComponent() }
    return u.appendingPathComponent("ecg-train").path
}()

@Suite(.serialized) struct TrainingNeverLosesWork {
    /// A small dataset of ECG-like windows, 6 subjects.
    static func dataset(_ path: String) throws {
        var d = Dataset()
        d.names.subjects = (0..<6).map { "s\($0)" }; d.names.datasets = ["synthetic"]; d.names.records = (0..<6).map { "r\($0)" }
        d.names.labels = ["rest"]
        for k in 0..<24 {
            let hr = 1.0 + 0.1 * Double(k % 6)
            d.windows += (0..<2560).map { i in
                let t = Double(i) / 256, ph = (t * hr).truncatingRemainder(dividingBy: 1)
                return Float(exp(-(ph - 0.4) * (ph - 0.4) / 0.0003) + 0.1 * sin(Double(k) + 7 * t))
            }
            d.subject.append(Int64(k % 6)); d.dataset.append(0); d.record.append(Int64(k % 6)); d.label.append(0)
        }
        try d.write(path: path)
    }

    func run(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: trainBinary)
        p.arguments = ["pretrain"] + args
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func step(_ dir: String) -> Int {
        guard let d = FileManager.default.contents(atPath: dir + "/state.json"),
            let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any]
        else { return -1 }
        return j["step"] as? Int ?? -1
    }

    @Test(
        "a run killed with SIGKILL at a random moment resumes from its last checkpoint and ends bit-identical to an uninterrupted run",
        .enabled(if: ProcessInfo.processInfo.environment["ECG_SANITIZER"] == nil), arguments: [1])
    func sigkillResume(_ trial: Int) throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-resume-\(getpid())-\(trial)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try Self.dataset(tmp + "/data.npz")
        let common = ["--data", tmp + "/data.npz", "--epochs", "2", "--batch", "4", "--threads", "2", "--save-every", "1", "--quiet", "--val-fraction", "0.2"]
        let a = try run(common + ["--out", tmp + "/a"])
        a.waitUntilExit()
        #expect(a.terminationStatus == 0)
        let total = Self.step(tmp + "/a/models/epoch_2")
        #expect(total > 6)
        // Kill B at a random step (checkpoints are written every step, so the kill often
        // lands in the middle of one), then resume until done.
        let b = try run(common + ["--out", tmp + "/b"])
        var g = SeededRandom(#function)
        let killAt = Int.random(in: 2..<(total - 2), using: &g)
        let deadline = Date().addingTimeInterval(300)
        while Self.step(tmp + "/b/models/latest") < killAt && Self.step(tmp + "/b/models/epoch_1") < killAt && b.isRunning && Date() < deadline {
            usleep(UInt32.random(in: 1_000...20_000, using: &g))
        }
        kill(b.processIdentifier, SIGKILL)
        b.waitUntilExit()
        #expect(b.terminationReason == .uncaughtSignal, "the run ended before it could be killed")
        let r = try run(common + ["--out", tmp + "/b", "--resume"])
        r.waitUntilExit()
        #expect(r.terminationStatus == 0)
        let wa = try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/models/epoch_2/encoder.npz"))
        let wb = try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/models/epoch_2/encoder.npz"))
        #expect(wa == wb, "weights after resume differ from the uninterrupted run (killed near step \(killAt))")
        let sa = try String(contentsOfFile: tmp + "/a/output/steps.csv", encoding: .utf8)
        let sb = try String(contentsOfFile: tmp + "/b/output/steps.csv", encoding: .utf8)
        #expect(sa == sb, "steps.csv differs: rows lost or repeated")
    }
}
