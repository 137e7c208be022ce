import Foundation
import NPY

/// A weights directory: `manifest.json` plus the `.npz` files it names.
public enum WeightsDirectory {
    /// Loads the pre-training network from a directory (via its manifest) or from a bare `.npz`.
    public static func loadNetwork(_ path: String) throws -> SSLNetwork {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw WeightsError.file("\(path) does not exist (expected a weights directory with manifest.json, or an .npz)")
        }
        if !isDir.boolValue { return try SSLNetwork(tensors: TensorSet(NPZ.read(path: path))) }
        let m = try Manifest.load(directory: path)
        return try m.loadNetwork(directory: path)
    }
}

extension WeightsDirectory {
    /// Names of every tensor the SSL-ECG network has (TF variable names with `/`).
    public static var networkTensorNames: [String] {
        var n = EncoderWeights.architecture.flatMap { [$0.name + "/kernel", $0.name + "/bias"] }
        for i in 0..<TaskHead.count {
            for l in ["task_\(i)_dense_1", "task_\(i)_dense_2", "task_\(i)"] { n += [l + "/kernel", l + "/bias"] }
        }
        return n
    }

    /// The network from named tensors (TF names, `/` or `.`), validating shapes.
    /// - Returns: the network and the names of tensors given but not used.
    public static func network(fromTensors raw: [String: NPYArray]) throws -> (SSLNetwork, ignored: [String]) {
        let known = Set(networkTensorNames)
        let t = TensorSet(raw)
        let ignored = t.arrays.keys.filter { !known.contains($0) }.sorted()
        return (try SSLNetwork(tensors: t), ignored)
    }

    /// All tensors of a network, named with `.` as numpy-friendly `.npz` member names.
    public static func tensors(of net: SSLNetwork) -> [String: NPYArray] {
        var all = net.encoder.weights.tensors
        for (i, h) in net.tasks.enumerated() { all.merge(h.tensors(index: i)) { a, _ in a } }
        var out: [String: NPYArray] = [:]
        for (k, v) in all { out[k.replacingOccurrences(of: "/", with: ".")] = v }
        return out
    }

    /// Writes `encoder.npz` and `manifest.json` into `dir` (created if missing), each
    /// atomically, manifest last, so a reader never sees a manifest without its file.
    public static func write(
        _ net: SSLNetwork, to dir: String, preprocessing: Manifest.Preprocessing,
        provenance: Manifest.Provenance, heads: [Manifest.Head] = []
    ) throws -> Manifest {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw WeightsError.file("cannot create \(dir): \(error.localizedDescription)")
        }
        let npz = NPZ.encode(tensors(of: net))
        try writeFileAtomically(npz, path: dir + "/encoder.npz")
        let m = Manifest(
            encoder: .init(file: "encoder.npz", sha256: sha256Hex(npz)), pretrainHeads: !net.tasks.isEmpty,
            preprocessing: preprocessing, heads: heads, provenance: provenance)
        try writeFileAtomically([UInt8](m.encoded()) + [0x0A], path: dir + "/manifest.json")
        return m
    }
}
