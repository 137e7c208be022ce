import ArgumentParser
import Dispatch
import Foundation
import Model
import Training
import NPY
import Synchronization

/// Checkpoints (atomic directories with weights, Adam's moments and the run state) and
/// the initial weights.
extension PretrainCommand {
    /// Writes the checkpoint into `dir.partial-PID`, then renames it to `dir` (the old
    /// `dir`, if any, is first renamed aside and removed after): at every moment either
    /// the old or the new checkpoint is complete on disk.
    func save(_ net: SSLNetwork, _ adam: Adam, _ st: State, preprocessing: Manifest.Preprocessing, to dir: String) throws {
        let fm = FileManager.default
        let tmp = dir + ".partial-\(getpid())", old = dir + ".old-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try writeCheckpoint(net, adam, st, preprocessing: preprocessing, to: tmp)
        if fm.fileExists(atPath: dir) {
            guard rename(dir, old) == 0 else { throw Failure("cannot move \(dir) aside: \(String(cString: strerror(errno)))") }
        }
        guard rename(tmp, dir) == 0 else { throw Failure("cannot rename \(tmp) to \(dir): \(String(cString: strerror(errno)))") }
        try? fm.removeItem(atPath: old)
    }

    func writeCheckpoint(_ net: SSLNetwork, _ adam: Adam, _ st: State, preprocessing: Manifest.Preprocessing, to dir: String) throws {
        _ = try WeightsDirectory.write(net, to: dir, preprocessing: preprocessing,
                                       provenance: .init(description: "ecg-train pretrain, epoch \(st.epoch), step \(st.step), seed \(seed)",
                                                         datasets: [data], licenses: ["see the corpus README"],
                                                         command: (["ecg-train"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                                                         created: ISO8601DateFormatter().string(from: Date())))
        var opt: [String: NPYArray] = [:]
        // Names only here, at the file: m.<tensor> and v.<tensor>, each flat.
        let layout = ParameterLayout.ssl
        if adam.m.count == layout.count {
            for (k, v) in layout.named(adam.m) { opt["m." + k.replacingOccurrences(of: "/", with: ".")] = NPYArray(floats: v, shape: [v.count]) }
            for (k, v) in layout.named(adam.v) { opt["v." + k.replacingOccurrences(of: "/", with: ".")] = NPYArray(floats: v, shape: [v.count]) }
        }
        try NPZ.write(opt, path: dir + "/optimizer.npz")
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically([UInt8](try enc.encode(st)), path: dir + "/state.json")
    }

    func loadOptimizer(_ path: String, lr: Float, step: Int) throws -> Adam {
        var a = Adam(learningRate: lr)
        a.step = step
        guard FileManager.default.fileExists(atPath: path) else { return a }
        var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
        for (k, t) in try NPZ.read(path: path) {
            let name = String(k.dropFirst(2)).replacingOccurrences(of: ".", with: "/")
            if k.hasPrefix("m.") { m[name] = t.floats() } else if k.hasPrefix("v.") { v[name] = t.floats() }
        }
        guard let fm = ParameterLayout.ssl.flat(m), let fv = ParameterLayout.ssl.flat(v) else {
            throw Failure("\(path): a moment tensor has the wrong size for this network")
        }
        if !m.isEmpty { a.m = fm; a.v = fv }
        return a
    }

    func newestCheckpoint() -> (String, State)? {
        let models = out + "/models"
        guard let dirs = try? FileManager.default.contentsOfDirectory(atPath: models) else { return nil }
        var best: (String, State)?
        for d in dirs where !d.contains(".partial-") {
            guard let data = FileManager.default.contents(atPath: "\(models)/\(d)/state.json"),
                  let st = try? JSONDecoder().decode(State.self, from: data) else { continue }
            if best == nil || st.step > best!.1.step { best = ("\(models)/\(d)", st) }
        }
        return best
    }

    /// Glorot-uniform kernels and zero biases (TF's defaults for these layers), seeded.
    static func glorotInit(seed: UInt64) throws -> SSLNetwork {
        var rng = Transformations.RNG(seed: seed)
        var arrays: [String: NPYArray] = [:]
        func glorot(_ shape: [Int], fanIn: Int, fanOut: Int) -> NPYArray {
            let lim = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            return NPYArray(floats: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -lim...lim, using: &rng) }, shape: shape)
        }
        for a in EncoderWeights.architecture {
            arrays[a.name + "/kernel"] = glorot([a.taps, a.cin, a.cout], fanIn: a.taps * a.cin, fanOut: a.taps * a.cout)
            arrays[a.name + "/bias"] = NPYArray(floats: [Float](repeating: 0, count: a.cout), shape: [a.cout])
        }
        for i in 0..<7 {
            for (n, ins, outs) in [("task_\(i)_dense_1", 128, 128), ("task_\(i)_dense_2", 128, 128), ("task_\(i)", 128, 1)] {
                arrays[n + "/kernel"] = glorot([ins, outs], fanIn: ins, fanOut: outs)
                arrays[n + "/bias"] = NPYArray(floats: [Float](repeating: 0, count: outs), shape: [outs])
            }
        }
        return try SSLNetwork(tensors: TensorSet(arrays))
    }
}
