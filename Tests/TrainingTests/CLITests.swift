import Testing
import Foundation
import ModelTestSupport
import NPY
@testable import Model
@testable import Training

/// Runs ecg-train with arguments; returns its exit status and stderr.
func ecgTrain(_ args: [String]) throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: trainBinary)
    p.arguments = args
    let err = Pipe()
    p.standardError = err; p.standardOutput = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

@Suite struct CommandLine_ {
    @Test(
        "bad list items and unknown words are usage errors (exit 64) that name the option, never silently dropped",
        arguments: [
            (["bench", "--batch", "1,8,x"], "--batch"),
            (["bench", "--threads", "1,,2"], "--threads"),
            (["bench", "--batch", "0"], "--batch"),
            (["bench", "--format", "csv"], "--format"),
            (["bench", "--algorithms", "direct,dft32,dftx,dft16,dft8,dft8"], "dftx"),
            (["finetune", "--data", "d.npz", "--head", "h", "--out", "o", "--split", "person"], "--split"),
            (["prepare", "--out", "o.npz", "--normalize", "global"], "--normalize"),
            (["embed", "--in", "a.npy", "--out", "b.npy", "--threads", "0"], "--threads"),
        ])
    func refused(args: [String], names: String) throws {
        let r = try ecgTrain(args)
        #expect(r.status == 64, "\(args): exit \(r.status)")
        #expect(r.stderr.contains(names), "\(args): \(r.stderr)")
    }

    @Test("the shared options are declared once and appear in every command that uses them")
    func sharedOptions() throws {
        for (cmd, opts) in [
            ("embed", ["--weights", "--threads", "--quiet"]), ("evaluate", ["--weights", "--threads"]),
            ("finetune", ["--weights", "--threads"]), ("loss-grad", ["--weights", "--threads"]),
            ("pretrain", ["--threads", "--quiet"]), ("prepare", ["--quiet"]), ("bench", ["--weights"]),
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: trainBinary)
            p.arguments = [cmd, "--help"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            for o in opts { #expect(help.contains(o), "\(cmd) --help lacks \(o)") }
        }
    }
}

@Suite struct PreparePolarity {
    @Test("prepare --polarity qrs-up turns inverted records upright; evaluate refuses a dataset turned otherwise than its weights")
    func polarity() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-polarity-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Two records of 25 s at 360 Hz: one upright, the same one inverted (lead aVR-like).
        let x = syntheticECG(seconds: 25 * 360 / 256, seed: 11)
        for (name, sign) in [("up", 1.0), ("down", -1.0)] {
            try NPZ.write(
                [
                    "ecg": NPYArray(dtype: .f8, shape: [x.count], data: x.map { $0 * sign }.withUnsafeBytes { Array($0) }),
                    "fs": NPYArray(dtype: .f8, shape: [], data: withUnsafeBytes(of: 360.0) { Array($0) }),
                ], path: "\(dir)/\(name).npz")
        }
        try "path,dataset,subject,record,label,fs,quality\nup.npz,syn,a,up,rest,360,ok\ndown.npz,syn,b,down,stress,360,ok\n"
            .write(toFile: "\(dir)/manifest.csv", atomically: true, encoding: .utf8)
        for p in ["keep", "qrs-up"] {
            let r = try ecgTrain(["prepare", "--corpus", dir, "--out", "\(dir)/\(p).npz", "--polarity", p, "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let kept = try Dataset.read(path: "\(dir)/keep.npz"), turned = try Dataset.read(path: "\(dir)/qrs-up.npz")
        let n = EncoderGeometry.windowLength, half = turned.windows.count / 2
        #expect(turned.count == 4 && turned.names.preprocessing["polarity"] == "qrs-up" && kept.names.preprocessing["polarity"] == nil)
        #expect(Array(turned.windows[..<half]) == Array(turned.windows[half...]))  // both records upright
        #expect(relErr(Array(kept.windows[half..<(half + n)]), Array(turned.windows[half..<(half + n)]).map { -$0 }) <= 1e-6)
        // Weights trained without the step refuse the turned dataset, naming the fix.
        let weights = "\(dir)/weights"
        _ = try WeightsDirectory.write(
            TF.network, to: weights, preprocessing: .init(filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization),
            provenance: .init(description: "tests", datasets: [], licenses: [], command: "tests", created: "tests"))
        let r = try ecgTrain(["evaluate", "--data", "\(dir)/qrs-up.npz", "--weights", weights, "--labels", "rest,stress", "--out", "\(dir)/eval"])
        #expect(r.status != 0 && r.stderr.contains("--polarity keep"), "\(r.stderr)")
    }
}

@Suite struct ShardedEmbed {
    @Test("embed --recordings --shard i/n: every recording once across shards, one .npy each, resumable, a summary per shard")
    func shards() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-shards-\(getpid())").path
        let inDir = dir + "/in/sub", outDir = dir + "/out"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: inDir, withIntermediateDirectories: true)
        let x = syntheticECG(seconds: 25, seed: 4)
        for k in 0..<5 {
            try NPZ.write(
                ["ecg": NPYArray(floats: x.map(Float.init), shape: [x.count]), "fs": NPYArray(doubles: [256], shape: [])],
                path: inDir + "/rec\(k).npz", compressed: false)
        }
        let weights = dir + "/weights"
        _ = try WeightsDirectory.write(
            TF.network, to: weights, preprocessing: .init(filter: Preprocessing.bandFilter, normalization: Preprocessing.windowNormalization),
            provenance: .init(description: "tests", datasets: [], licenses: [], command: "tests", created: "tests"))
        for i in 0..<3 {
            let r = try ecgTrain(["embed", "--weights", weights, "--recordings", dir + "/in", "--out-dir", outDir, "--shard", "\(i)/3", "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        for k in 0..<5 {
            let e = try NPY.read(path: outDir + "/sub/rec\(k).npy")
            #expect(e.shape == [2, 128])
        }
        let rows = try (0..<3).flatMap { i in
            try String(contentsOfFile: outDir + "/shard-\(i)-of-3.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        }
        #expect(rows.count == 5 && rows.allSatisfy { $0.hasSuffix(",embedded") })
        // Again: nothing recomputed.
        let again = try ecgTrain(["embed", "--weights", weights, "--recordings", dir + "/in", "--out-dir", outDir, "--shard", "1/3", "--quiet"])
        #expect(again.status == 0)
        let s1 = try String(contentsOfFile: outDir + "/shard-1-of-3.csv", encoding: .utf8)
        #expect(s1.contains("done before") && !s1.contains("embedded"))
        #expect(try ecgTrain(["embed", "--weights", weights, "--recordings", dir + "/in", "--out-dir", outDir, "--shard", "3/3"]).status == 64)
    }
}
