/// What an affect head reads, and the one function that assembles it: ecg-server and
/// ecg-train call `assemble`, so a head is served exactly as it was fitted (issue #17).
///
/// Per window, the vector is the named features in order: `embedding` (128 values) and the
/// heart-rate features of `HRVFeatures` (`heart_rate_bpm`, `sdnn_ms`, `rmssd_ms`). With
/// `context_windows` k > 0 each window's vector is the mean over the usable windows within
/// ±k of it in the same recording (longer context than 10 s). With `baseline` "difference"
/// the head needs a personal baseline (a resting recording of the same person) and reads
/// the vector minus the baseline's mean vector over its usable windows (each baseline window
/// with the same context rule inside the baseline recording).
public struct HeadInputs: Codable, Sendable, Equatable {
    public var features: [String]
    public var contextWindows: Int
    /// nil: no baseline; "difference": minus the personal baseline's mean.
    public var baseline: String?

    enum CodingKeys: String, CodingKey { case features, contextWindows = "context_windows", baseline }

    public static let embedding = "embedding", heartRate = "heart_rate_bpm", sdnn = "sdnn_ms", rmssd = "rmssd_ms"
    public static let known = [embedding, heartRate, sdnn, rmssd]
    public static let difference = "difference"
    /// A personal baseline must be at least this long, and have this many usable windows.
    public static let minimumBaselineSeconds = 60.0, minimumBaselineWindows = 3

    public init(features: [String], contextWindows: Int = 0, baseline: String? = nil) {
        self.features = features; self.contextWindows = contextWindows; self.baseline = baseline
    }

    /// The 128-d embedding alone: what a head without `inputs` in its manifest reads.
    public static let embeddingOnly = HeadInputs(features: [embedding])

    public var needsBaseline: Bool { baseline != nil }
    public var needsEmbedding: Bool { features.contains(Self.embedding) }

    /// Values per window.
    public var count: Int { features.reduce(0) { $0 + ($1 == Self.embedding ? EncoderWeights.embeddingSize : 1) } }

    /// Refuses unknown names, repeats, a negative or huge context and unknown baselines.
    public func validate(head: String) throws {
        guard !features.isEmpty, Set(features).count == features.count, features.allSatisfy(Self.known.contains) else {
            throw WeightsError.manifest("head '\(head)': inputs.features must be distinct names of \(Self.known), found \(features)")
        }
        guard (0...30).contains(contextWindows) else {
            throw WeightsError.manifest("head '\(head)': inputs.context_windows must be 0…30, found \(contextWindows)")
        }
        guard baseline == nil || baseline == Self.difference else {
            throw WeightsError.manifest("head '\(head)': inputs.baseline must be absent or \"difference\", found \(baseline!)")
        }
    }

    /// One window as the head input sees it before context and baseline.
    public struct Window: Sendable {
        public var recording: Int
        /// Index of the window within its recording (consecutive 10 s windows).
        public var index: Int
        public var usable: Bool
        public var features: HRVFeatures
        public init(recording: Int, index: Int, usable: Bool, features: HRVFeatures) {
            self.recording = recording; self.index = index; self.usable = usable; self.features = features
        }
    }

    /// The raw vector of window w (embedding row w of `embeddings`).
    func raw(_ w: Int, _ win: Window, _ embeddings: [Float]) -> [Double] {
        var v: [Double] = []
        v.reserveCapacity(count)
        for f in features {
            switch f {
            case Self.embedding:
                let e = EncoderWeights.embeddingSize
                for j in 0..<e { v.append(Double(embeddings[w * e + j])) }
            case Self.heartRate: v.append(win.features.heartRate ?? .nan)
            case Self.sdnn: v.append(win.features.sdnn ?? .nan)
            default: v.append(win.features.rmssd ?? .nan)
            }
        }
        return v
    }

    /// Per window, the vector after the context rule (nil for an unusable window, or when no
    /// usable window is within reach; a feature undefined everywhere in reach stays NaN).
    public func withContext(_ windows: [Window], embeddings: [Float]) -> [[Double]?] {
        var at: [Int: [Int: Int]] = [:]  // recording → index → row
        for (r, w) in windows.enumerated() where w.usable { at[w.recording, default: [:]][w.index] = r }
        let rawRows: [[Double]?] = windows.enumerated().map { r, w in w.usable ? raw(r, w, embeddings) : nil }
        return windows.map { w in
            guard w.usable else { return nil }
            var sum = [Double](repeating: 0, count: count), n = [Int](repeating: 0, count: count)
            for d in -contextWindows...contextWindows {
                guard let r = at[w.recording]?[w.index + d], let v = rawRows[r] else { continue }
                for j in 0..<count where v[j].isFinite { sum[j] += v[j]; n[j] += 1 }
            }
            return (0..<count).map { n[$0] > 0 ? sum[$0] / Double(n[$0]) : .nan }
        }
    }

    /// The baseline's mean vector over its usable windows (context applied within it), and
    /// how many windows it used; nil when none is usable.
    public func baselineMean(_ windows: [Window], embeddings: [Float]) -> (mean: [Double], used: Int)? {
        let rows = withContext(windows, embeddings: embeddings).compactMap { $0 }
        guard !rows.isEmpty else { return nil }
        var sum = [Double](repeating: 0, count: count), n = [Int](repeating: 0, count: count)
        for v in rows { for j in 0..<count where v[j].isFinite { sum[j] += v[j]; n[j] += 1 } }
        return ((0..<count).map { n[$0] > 0 ? sum[$0] / Double(n[$0]) : .nan }, rows.count)
    }

    /// The head's input rows: per window its vector (context, minus the baseline mean when
    /// given), with a NaN replaced by `fill[j]` (the training mean the head was fitted with;
    /// 0 when absent). Unusable windows get nil (their probabilities are null).
    public func assemble(_ windows: [Window], embeddings: [Float], baseline: [Double]? = nil, fill: [Double]? = nil) -> [[Float]?] {
        withContext(windows, embeddings: embeddings).map { row in
            guard var v = row else { return nil }
            for j in 0..<count {
                if let b = baseline { v[j] -= b[j] }
                if !v[j].isFinite { v[j] = fill?[j] ?? 0 }
            }
            return v.map(Float.init)
        }
    }
}
