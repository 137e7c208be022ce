import Foundation
import Model
import NPY

extension WeightsDirectory {
    /// Reads network tensors from an `.npz` (TF names, `/` or `.`) or from a TF V2
    /// checkpoint prefix; optimizer slots and counters are ignored. Validates shapes.
    /// - Returns: the network and the names of tensors found but not used.
    public static func importTensors(from path: String) throws -> (SSLNetwork, ignored: [String]) {
        let known = Set(networkTensorNames)
        let raw: [String: NPYArray]
        if path.hasSuffix(".npz") {
            raw = try NPZ.read(path: path)
        } else {
            raw = try TFCheckpoint.read(prefix: path) { known.contains($0) }
        }
        return try network(fromTensors: raw)
    }
}
