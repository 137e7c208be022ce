import Foundation
import Model
import NPY

/// A prepared dataset: 10 s windows at 256 Hz with, per window, its subject, dataset,
/// record and label (indices into the name lists; label -1 = none).
/// On disk: one `.npz` with `windows` (N, 2560) f4, `subject`/`dataset`/`record`/`label`
/// (N) i8, and `names` (u1: UTF-8 JSON of the name lists).
public struct Dataset: Sendable {
    public var windows: [Float]
    public var subject: [Int64], dataset: [Int64], record: [Int64], label: [Int64]
    public var names: Names
    public var count: Int { subject.count }

    public struct Names: Codable, Sendable {
        public var subjects: [String] = [], datasets: [String] = [], records: [String] = [], labels: [String] = []
        public var preprocessing: [String: String] = [:]
    }

    public init() { windows = []; subject = []; dataset = []; record = []; label = []; names = Names() }

    public func write(path: String) throws {
        let n = count
        let json = try JSONEncoder().encode(names)
        try NPZ.write(
            [
                "windows": NPYArray(floats: windows, shape: [n, EncoderGeometry.windowLength]),
                "subject": NPYArray(int64s: subject, shape: [n]), "dataset": NPYArray(int64s: dataset, shape: [n]),
                "record": NPYArray(int64s: record, shape: [n]), "label": NPYArray(int64s: label, shape: [n]),
                "names": NPYArray(dtype: .u1, shape: [json.count], data: [UInt8](json)),
            ], path: path, compressed: true)
    }

    public static func read(path: String) throws -> Dataset {
        let z = try NPZ.read(path: path)
        func need(_ k: String) throws -> NPYArray {
            guard let a = z[k] else { throw NPYError.io("\(path): no '\(k)' array (not a dataset made by `ecg-train prepare`)") }
            return a
        }
        var d = Dataset()
        let w = try need("windows")
        guard w.shape.count == 2, w.shape[1] == EncoderGeometry.windowLength else {
            throw NPYError.io("\(path): windows have shape \(w.shape), expected (N, \(EncoderGeometry.windowLength))")
        }
        d.windows = w.floats()
        if let bad = d.windows.firstIndex(where: { !$0.isFinite }) {
            throw NPYError.io(
                "\(path): window \(bad / EncoderGeometry.windowLength) (row \(bad / EncoderGeometry.windowLength)) has a NaN or Inf at sample \(bad % EncoderGeometry.windowLength)"
            )
        }
        for (k, kp) in [("subject", \Dataset.subject), ("dataset", \Dataset.dataset), ("record", \Dataset.record), ("label", \Dataset.label)] {
            let a = try need(k)
            guard a.shape == [w.shape[0]] else { throw NPYError.io("\(path): '\(k)' has shape \(a.shape), expected (\(w.shape[0]),)") }
            do { d[keyPath: kp] = try a.int64s() } catch { throw NPYError.io("\(path): '\(k)': \(error) (labels must be integers)") }
        }
        if let n = z["names"] { d.names = (try? JSONDecoder().decode(Names.self, from: Data(n.data))) ?? Names() }
        return d
    }
}

extension Dataset {
    /// How the windows were made, as a manifest states it (`prepare` records its filter,
    /// normalisation and polarity).
    public var manifestPreprocessing: Manifest.Preprocessing {
        let p = names.preprocessing
        let norm: String
        switch p["normalization"] {
        case nil, "window"?: norm = Preprocessing.windowNormalization
        case let n?: norm = n + "-robust-zscore"
        }
        return .init(filter: p["filter"] ?? Preprocessing.highpassFilter, normalization: norm, polarity: p["polarity"])
    }
}
