import COpenSSL
import Foundation
import NPY

/// `weights/manifest.json`: what the encoder is, how its input must be prepared, which
/// heads exist, and where the weights came from. Files are checked against SHA-256.
public struct Manifest: Codable, Sendable, Equatable {
    public static let currentFormat = 1

    public struct Preprocessing: Codable, Sendable, Equatable {
        /// e.g. "highpass-0.8Hz-zero-phase" or "none".
        public var filter: String
        /// "window-robust-zscore", "subject-robust-zscore", ... or "none".
        public var normalization: String
        /// "qrs-up": each recording is negated if its QRS complexes point down
        /// (`Preprocessing.qrsPolarity`); absent: the signal's sign is kept.
        public var polarity: String?
        public init(filter: String, normalization: String, polarity: String? = nil) {
            self.filter = filter; self.normalization = normalization; self.polarity = polarity
        }
    }

    public struct Input: Codable, Sendable, Equatable {
        public var sampleRateHz: Double
        public var windowSamples: Int
        public var preprocessing: Preprocessing
        enum CodingKeys: String, CodingKey {
            case sampleRateHz = "sample_rate_hz", windowSamples = "window_samples", preprocessing
        }
    }

    public struct FileRef: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String
        public init(file: String, sha256: String) { self.file = file; self.sha256 = sha256 }
    }

    public struct Head: Codable, Sendable, Equatable {
        public var name: String
        public var labels: [String]
        public var file: String
        public var sha256: String
        public var metrics: [String: Double]?
        public var protocolDescription: String?
        /// What the head reads (absent: the 128-d embedding of each window alone).
        public var inputs: HeadInputs?
        enum CodingKeys: String, CodingKey {
            case name, labels, file, sha256, metrics, protocolDescription = "protocol", inputs
        }
        public init(name: String, labels: [String], file: String, sha256: String, metrics: [String: Double]?, protocolDescription: String?) {
            self.name = name; self.labels = labels; self.file = file; self.sha256 = sha256
            self.metrics = metrics; self.protocolDescription = protocolDescription
        }
    }

    public struct Provenance: Codable, Sendable, Equatable {
        /// Human-readable: what these weights are (e.g. "TF parity fixture, random seed 20201, NOT trained").
        public var description: String
        public var datasets: [String]
        public var licenses: [String]
        public var command: String
        public var created: String
        public init(description: String, datasets: [String], licenses: [String], command: String, created: String) {
            self.description = description; self.datasets = datasets; self.licenses = licenses
            self.command = command; self.created = created
        }
    }

    /// How a head was evaluated against baselines (written by `scripts/ship_weights.py`
    /// from `scripts/stress_protocol.py`; `/v1/model` shows it). `report` is the full evaluation file.
    public struct Evaluation: Codable, Sendable, Equatable {
        public struct Model: Codable, Sendable, Equatable {
            public var name: String
            public var description: String
            public var balancedAccuracy: Double
            /// 95 % interval of the balanced accuracy from a bootstrap over subjects.
            public var balancedAccuracyCI95: [Double]?
            public var macroF1: Double?
            public var rocAUC: Double?
            public var rocAUCCI95: [Double]?
            /// Older manifests: the Brier score of P(class 1) (one probability per window).
            public var brier: Double?
            /// Mean over windows of (P(stress) − truth)²: one probability per window.
            public var brierPStress: Double?
            /// The same for always answering the base rate (what a useful model beats).
            public var brierBaseRate: Double?
            public var brierTemperatureScaled: Double?
            public var subjectBalancedAccuracyMean: Double?
            public var subjectBalancedAccuracyMin: Double?
            public var subjectBalancedAccuracyStd: Double?
            public var recordingsBalancedAccuracy: Double?
            public var subjects: Int?
            public var windows: Int?
            enum CodingKeys: String, CodingKey {
                case name, description, balancedAccuracy = "balanced_accuracy", balancedAccuracyCI95 = "balanced_accuracy_ci95", macroF1 = "macro_f1",
                    rocAUC = "roc_auc", rocAUCCI95 = "roc_auc_ci95", brier, brierPStress = "brier_p_stress", brierBaseRate = "brier_base_rate",
                    brierTemperatureScaled = "brier_temperature_scaled", subjectBalancedAccuracyMean = "subject_balanced_accuracy_mean",
                    subjectBalancedAccuracyMin = "subject_balanced_accuracy_min",
                    subjectBalancedAccuracyStd = "subject_balanced_accuracy_std", recordingsBalancedAccuracy = "recordings_balanced_accuracy",
                    subjects, windows
            }
        }
        public var head: String
        public var protocolDescription: String
        public var report: FileRef
        public var models: [Model]
        enum CodingKeys: String, CodingKey { case head, protocolDescription = "protocol", report, models }
    }

    /// The pretext tasks on held-out subjects for the shipped encoder's epoch (F1 by
    /// transformation), with the run's per-epoch curves as `curves`.
    public struct PretextValidation: Codable, Sendable, Equatable {
        public var epoch: Int
        public var step: Int
        public var loss: Double
        public var f1: [String: Double]
        public var curves: FileRef
    }

    public var formatVersion: Int
    public var model: String
    public var encoder: FileRef
    /// Whether the encoder file also holds the seven pre-training heads task_0 ... task_6.
    public var pretrainHeads: Bool
    public var input: Input
    public var embeddingSize: Int
    public var heads: [Head]
    public var provenance: Provenance
    public var evaluations: [Evaluation]?
    public var pretextValidation: PretextValidation?

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, encoder, pretrainHeads = "pretrain_heads", input,
            embeddingSize = "embedding_size", heads, provenance, evaluations, pretextValidation = "pretext_validation"
    }

    /// Every file the manifest names besides the encoder and heads (evaluation reports,
    /// training curves), for checking against their SHA-256.
    public var reportFiles: [FileRef] {
        (evaluations ?? []).map(\.report) + (pretextValidation.map { [$0.curves] } ?? [])
    }

    public init(encoder: FileRef, pretrainHeads: Bool, preprocessing: Preprocessing, heads: [Head] = [], provenance: Provenance) {
        formatVersion = Self.currentFormat; model = "ssl-ecg-sarkar-etemad-2020"
        self.encoder = encoder; self.pretrainHeads = pretrainHeads
        input = Input(sampleRateHz: EncoderWeights.sampleRate, windowSamples: EncoderWeights.windowLength, preprocessing: preprocessing)
        embeddingSize = EncoderWeights.embeddingSize; self.heads = heads; self.provenance = provenance
    }

    public static func load(directory: String) throws -> Manifest {
        let path = directory + "/manifest.json"
        guard let d = FileManager.default.contents(atPath: path) else {
            throw WeightsError.file("\(path) not found: a weights directory needs a manifest.json (make one with `ecg-train import`)")
        }
        let m: Manifest
        do { m = try JSONDecoder().decode(Manifest.self, from: d) } catch {
            throw WeightsError.manifest("\(path) is not a valid manifest: \(error)")
        }
        guard m.formatVersion == currentFormat else {
            throw WeightsError.manifest("\(path): format_version \(m.formatVersion) is not supported (this build reads \(currentFormat))")
        }
        guard m.input.windowSamples == EncoderWeights.windowLength, m.input.sampleRateHz == EncoderWeights.sampleRate,
            m.embeddingSize == EncoderWeights.embeddingSize
        else {
            throw WeightsError.manifest(
                "\(path): input spec or embedding size differs from the SSL-ECG network (256 Hz, \(EncoderGeometry.windowLength) samples, 128-d)")
        }
        return m
    }

    /// Reads a file the manifest names, refusing paths outside the directory and files
    /// whose SHA-256 differs from the manifest's.
    public static func readChecked(directory: String, _ ref: FileRef) throws -> [UInt8] {
        guard !ref.file.contains("/"), !ref.file.hasPrefix(".") else {
            throw WeightsError.manifest("file name '\(ref.file)' must be a plain name inside the weights directory")
        }
        let bytes = try readFile(directory + "/" + ref.file)
        let h = sha256Hex(bytes)
        guard h == ref.sha256.lowercased() else { throw WeightsError.checksum(file: ref.file, expected: ref.sha256, found: h) }
        return bytes
    }

    public func loadNetwork(directory: String) throws -> SSLNetwork {
        let bytes = try Self.readChecked(directory: directory, encoder)
        let arrays: [String: NPYArray]
        do { arrays = try NPZ.decode(bytes) } catch { throw WeightsError.file("\(directory)/\(encoder.file): \(error)") }
        return try SSLNetwork(tensors: TensorSet(arrays))
    }

    public func encoded() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try! e.encode(self)
    }
}

/// Lower-case hex SHA-256 of bytes (OpenSSL libcrypto).
public func sha256Hex(_ bytes: [UInt8]) -> String {
    var md = [UInt8](repeating: 0, count: 32)
    bytes.withUnsafeBufferPointer { p in _ = SHA256(p.baseAddress, p.count, &md) }
    return md.map { String(format: "%02x", $0) }.joined()
}
