import Dispatch
import Foundation
import Model
import Sync

/// A classification head as served: the affect heads of the manifest, and the
/// pre-training transformation-recognition head when the weights carry it.
package struct ServedHead: Sendable {
    package let name: String
    package let labels: [String]
    /// Softmax over labels (affect heads) or independent sigmoids (the pretext heads).
    package let multiLabel: Bool
    /// What an affect head reads (nil: the pretext head, which reads the embedding).
    package let inputs: HeadInputs?
    package let run: @Sendable ([Float]) -> [Float]

    package var needsBaseline: Bool { inputs?.needsBaseline ?? false }
}

/// What a client asks the engine to compute, however it arrived (the native API's JSON or
/// npy, the Open Inference Protocol's tensors): recordings at one rate, and optionally a
/// resting recording of the same person (issue #17 item 4).
package struct InferenceRequest: Sendable {
    package var recordings: [[Double]]
    package var fs: Double
    /// The recordings are 256 Hz windows already preprocessed (no resampling or filtering).
    package var preprocessed: Bool
    package var baseline: Baseline?

    package struct Baseline: Sendable {
        package var samples: [Double]
        package var fs: Double
        package init(samples: [Double], fs: Double) { self.samples = samples; self.fs = fs }
    }

    package init(recordings: [[Double]], fs: Double, preprocessed: Bool, baseline: Baseline? = nil) {
        self.recordings = recordings; self.fs = fs; self.preprocessed = preprocessed; self.baseline = baseline
    }

    /// The samples the request becomes at 256 Hz (recordings and baseline), from sizes alone.
    package var samplesAt256: Int {
        func at256(_ n: Int, _ fs: Double) -> Int {
            guard let (up, down) = Preprocessing.ratio(from: fs) else { return n }
            let (m, o) = n.multipliedReportingOverflow(by: up)
            return o ? Int.max / 256 : m / down + 1
        }
        return recordings.reduce(0) { $0 + at256($1.count, fs) } + (baseline.map { at256($0.samples.count, $0.fs) } ?? 0)
    }
}

/// Why the engine refuses or fails a request. Each kind is one documented error code of the
/// API (the server maps them, `ErrorCode(_ kind:)`); the engine knows nothing of HTTP.
package struct InferenceError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, CaseIterable {
        case badSampleRate, tooShort, nonFinite, unprocessable
        case tooManyWindows
        case baselineTooShort, baselineUnprocessable, baselineUnusable
        case nonFiniteOutput
        /// The inference queue is full: retry shortly.
        case overloaded
        /// The memory budget is held by other requests: retry shortly.
        case memoryBusy
    }
    package let kind: Kind
    package let message: String
    /// Windows the request had become when it was refused (0 before windowing).
    package var windows = 0
    package init(_ kind: Kind, _ message: String, windows: Int = 0) { self.kind = kind; self.message = message; self.windows = windows }
    package var description: String { message }
    /// Nothing is wrong with the request; it may succeed later.
    package var retryable: Bool { kind == .overloaded || kind == .memoryBusy }
}

/// One window of a request: its recording, start, signal quality, its index in the
/// recording and its heart-rate features (what heads with `HeadInputs` read).
package struct Span: Sendable {
    package var recording: Int
    package var start: Double
    package var quality: SignalQuality
    package var index: Int = 0
    package var features = HRVFeatures(peaks: [], fs: Double(EncoderGeometry.sampleRate), start: 0, end: 0)
}

/// What a request's windows gave: embeddings, spans (quality and heart-rate features),
/// what each recording became, and the personal baseline's windows when one was sent.
package struct Computed: Sendable {
    package var embeddings: [Float]
    package var spans: [Span]
    package var prepared: [(Preprocessing.Prepared, Int)]
    package var baseline: BaselineComputed?
    /// Windows that went through the encoder (the baseline's included).
    package var windowsComputed: Int
}

package struct BaselineComputed: Sendable {
    package var windows: [HeadInputs.Window]
    /// Empty unless a served head reads the embedding.
    package var embeddings: [Float]
    package var usable: Int
    package var heartRate: Double?
}

/// R peaks and per-window heart-rate features of raw recordings (POST /features).
package struct FeaturesResult: Sendable {
    package var peaks: [[Int]]
    package var windows: [(recording: Int, start: Int, features: HRVFeatures)]
}

/// The inference engine: the network and its served heads, the manifest's preprocessing,
/// signal quality, the worker queue with its core budget, and the memory budget. It takes
/// typed requests and gives typed results; it knows nothing of HTTP (the server's route
/// adapters decode bodies into `InferenceRequest`s and encode `Computed` as answers).
package final class InferenceEngine: Sendable {
    package let network: SSLNetwork
    /// The manifest's preprocessing, checked when the weights were loaded.
    package let pipeline: Preprocessing.Pipeline
    package let heads: [ServedHead]
    package let queue: InferenceQueue
    /// Request working sets, reserved before decoding.
    package let memory: MemoryBudget
    /// Most windows one request may become (its baseline included).
    package let maxWindows: Int

    package static var transformationLabels: [String] { EncoderGeometry.transformations }

    package init(
        network: SSLNetwork, pipeline: Preprocessing.Pipeline, affect: [(head: AffectHead, inputs: HeadInputs)], queue: InferenceQueue,
        maxWindows: Int, memoryBudgetBytes: Int
    ) {
        self.network = network; self.pipeline = pipeline; self.queue = queue; self.maxWindows = maxWindows
        memory = MemoryBudget(bytes: memoryBudgetBytes)
        var hs: [ServedHead] = affect.map { h, i in ServedHead(name: h.name, labels: h.labels, multiLabel: false, inputs: i) { h.probabilities($0) } }
        if !network.tasks.isEmpty {
            let net = network
            hs.append(
                ServedHead(name: "ssl_transformations", labels: Self.transformationLabels, multiLabel: true, inputs: nil) { e in
                    net.taskLogits(e).map { 1 / (1 + exp(-$0)) }
                })
        }
        heads = hs
    }

    /// The heads a request is answered with: per head name the variant that reads a personal
    /// baseline when one is given (else the one without); heads that need a baseline are
    /// left out of requests without one.
    package func servedHeads(baseline: Bool) -> [ServedHead] {
        var out: [ServedHead] = []
        for h in heads where !out.contains(where: { $0.name == h.name }) {
            let variants = heads.filter { $0.name == h.name }
            if let pick = variants.first(where: { $0.needsBaseline == baseline }) ?? (baseline ? variants.first { !$0.needsBaseline } : nil) {
                out.append(pick)
            }
        }
        return out
    }

    /// Heart rate, HRV and signal quality of a preprocessed 256 Hz window (`HRVFeatures` on
    /// its Pan-Tompkins R peaks, with the second detector and kurtosis). Flat lines, noise and
    /// non-ECG input are "unusable"; beats unlike each other "poor". `ecg-train features
    /// --data` computes the same, so heads are fitted on what is served.
    package static func windowFeatures(_ w: ArraySlice<Float>) -> HRVFeatures { HRVFeatures.window(w) }

    private static func window(_ p: Preprocessing.Prepared, _ k: Int) -> ArraySlice<Float> {
        p.windows[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)]
    }

    /// Preprocesses the baseline recording, grades its windows, and refuses one that is too
    /// short or has fewer than `HeadInputs.minimumBaselineWindows` usable windows.
    package func prepareBaseline(_ b: InferenceRequest.Baseline) throws(InferenceError) -> (Preprocessing.Prepared, [HeadInputs.Window]) {
        let seconds = Double(b.samples.count) / b.fs
        guard seconds >= HeadInputs.minimumBaselineSeconds else {
            throw InferenceError(
                .baselineTooShort,
                "the baseline is \(String(format: "%.1f", seconds)) s; a resting recording of at least \(Int(HeadInputs.minimumBaselineSeconds)) s is needed")
        }
        let p: Preprocessing.Prepared
        do {
            p = try pipeline.prepare(b.samples, fs: b.fs)
        } catch {
            throw InferenceError(.baselineUnprocessable, "baseline: \(error)")
        }
        let wins = (0..<p.count).map { k in
            let f = Self.windowFeatures(Self.window(p, k))
            return HeadInputs.Window(recording: 0, index: k, usable: f.quality.isUsable, features: f)
        }
        let usable = wins.filter(\.usable).count
        guard usable >= HeadInputs.minimumBaselineWindows else {
            throw InferenceError(
                .baselineUnusable,
                "the baseline has \(usable) usable 10 s windows of \(wins.count); at least \(HeadInputs.minimumBaselineWindows) are needed (a still, resting recording of ECG)"
            )
        }
        return (p, wins)
    }

    /// Queues a request: an inference worker preprocesses it and grades each window (within
    /// the core budget, like the encoder), then queues its windows; `completion` runs on a
    /// worker once every window is computed, or with the refusal (bad rate, too short, too
    /// many windows, a baseline that will not do, the queue full, a non-finite output).
    /// Throws `.overloaded` when even the request cannot wait. Returns the cancel action
    /// (the client went away: the request leaves the queue and `completion` never runs).
    package func submit(
        _ input: InferenceRequest, completion: @escaping @Sendable (Result<Computed, InferenceError>) -> Void
    ) throws(InferenceError) -> @Sendable () -> Void {
        let submission = Submission()
        let accepted = queue.submitTask { [self] in
            guard !submission.isCancelled else { return }
            let job: InferenceJob
            do throws(InferenceError) { job = try prepareJob(input, completion: completion) } catch {
                completion(.failure(error))
                return
            }
            guard submission.attach(job) else { return }
            if !queue.submit(job) { completion(.failure(InferenceError(.overloaded, "inference queue is full; retry shortly", windows: job.count))) }
        }
        guard accepted else { throw InferenceError(.overloaded, "inference queue is full; retry shortly") }
        let q = queue
        return { if let job = submission.cancel() { q.cancel(job) } }
    }

    /// A request between `submit` and its windows' queueing: whether its client left, and
    /// its job once made (weakly: a finished job is not kept by its connection).
    private final class Submission: Sendable {
        private struct State { var cancelled = false; weak var job: InferenceJob? }
        private let state = Locked(State())
        var isCancelled: Bool { state.withLock { $0.cancelled } }
        /// Records the job; false when the client has left meanwhile.
        func attach(_ job: InferenceJob) -> Bool {
            state.withLock { s in
                s.job = job; return !s.cancelled
            }
        }
        /// Marks the request cancelled; the job to take out of the queue, if made.
        func cancel() -> InferenceJob? {
            state.withLock { s in
                s.cancelled = true; return s.job
            }
        }
    }

    /// Preprocesses a request and grades each window: its job, not yet queued.
    private func prepareJob(
        _ input: InferenceRequest, completion: @escaping @Sendable (Result<Computed, InferenceError>) -> Void
    ) throws(InferenceError) -> InferenceJob {
        var prepared: [(Preprocessing.Prepared, Int)] = []
        var total = 0
        for (i, rec) in input.recordings.enumerated() {
            do {
                let p = try pipeline.prepare(rec, fs: input.fs, preprocessed: input.preprocessed)
                total += p.count
                guard total <= maxWindows else { throw InferenceError(.tooManyWindows, "more than \(maxWindows) windows in one request") }
                prepared.append((p, i))
            } catch let e as InferenceError {
                throw e
            } catch let e as PreprocessingError {
                let kind: InferenceError.Kind
                switch e {
                case .badSampleRate: kind = .badSampleRate
                case .tooShort: kind = .tooShort
                case .nonFinite: kind = .nonFinite
                default: kind = .unprocessable
                }
                throw InferenceError(kind, "recording \(i): \(e)")
            } catch {
                throw InferenceError(.unprocessable, "recording \(i): \(error)")
            }
        }
        var baseline: (Preprocessing.Prepared, [HeadInputs.Window])?
        if let b = input.baseline {
            let prepared = try prepareBaseline(b)
            guard total + prepared.0.count <= maxWindows else {
                throw InferenceError(.tooManyWindows, "more than \(maxWindows) windows in one request (baseline included)")
            }
            baseline = prepared
        }
        var windows = [Float]()
        var spans: [Span] = []
        for (p, i) in prepared {
            windows.append(contentsOf: p.windows)
            for k in 0..<p.count {
                let f = Self.windowFeatures(Self.window(p, k))
                spans.append(Span(recording: i, start: Double(k) * 10, quality: f.quality, index: k, features: f))
            }
        }
        let count = spans.count
        // The baseline's windows go through the encoder too when a served head reads the embedding.
        let baselineEmbedded = baseline != nil && servedHeads(baseline: true).contains { $0.inputs?.needsEmbedding ?? false }
        if let (p, _) = baseline, baselineEmbedded { windows.append(contentsOf: p.windows) }
        let all = windows.count / EncoderGeometry.windowLength
        let e = EncoderGeometry.embeddingSize
        let (spansC, preparedC, baselineC) = (spans, prepared, baseline?.1)
        let job = InferenceJob(windows: windows, count: all) { [spans = spansC, prepared = preparedC, baseline = baselineC] job in
            let out = job.embeddings
            let emb = Array(out[0..<(count * e)])
            if let bad = emb.firstIndex(where: { !$0.isFinite }) {
                completion(
                    .failure(
                        InferenceError(
                            .nonFiniteOutput, "window \(bad / e) drives the network beyond float32 range; scale the input (e.g. to mV)", windows: all)))
                return
            }
            var b: BaselineComputed?
            if let wins = baseline {
                let used = wins.filter(\.usable)
                let hrs = used.compactMap(\.features.heartRate)
                b = BaselineComputed(
                    windows: wins, embeddings: baselineEmbedded ? Array(out[(count * e)...]) : [], usable: used.count,
                    heartRate: hrs.isEmpty ? nil : hrs.reduce(0, +) / Double(hrs.count))
            }
            completion(.success(Computed(embeddings: emb, spans: spans, prepared: prepared, baseline: b, windowsComputed: all)))
        }
        guard all <= queue.capacity else {
            throw InferenceError(
                .tooManyWindows,
                "\(all) windows exceed the inference queue (--queue-capacity \(queue.capacity)): this request can never be queued; send fewer windows",
                windows: all)
        }
        return job
    }

    /// Per window, the probabilities of head `h` (nil for a window an affect head does not
    /// score: unusable, so its probabilities are null).
    package func probabilities(_ h: ServedHead, _ c: Computed) -> [[Float]?] {
        let l = h.labels.count
        guard let inputs = h.inputs else {
            let p = h.run(c.embeddings)
            return (0..<c.spans.count).map { Array(p[($0 * l)..<(($0 + 1) * l)]) }
        }
        let wins = c.spans.map { HeadInputs.Window(recording: $0.recording, index: $0.index, usable: $0.quality.isUsable, features: $0.features) }
        var base: [Double]?
        if inputs.needsBaseline, let b = c.baseline { base = inputs.baselineMean(b.windows, embeddings: b.embeddings)?.mean }
        let rows = inputs.assemble(wins, embeddings: c.embeddings, baseline: base)
        let present = rows.compactMap { $0 }
        let p = present.isEmpty ? [] : h.run(present.flatMap { $0 })
        var k = 0
        return rows.map { r in
            guard r != nil else { return nil }
            defer { k += 1 }
            return Array(p[(k * l)..<((k + 1) * l)])
        }
    }

    /// Checks raw recordings for /features (finite, at least one 10 s window each).
    package static func checkForFeatures(_ input: InferenceRequest) throws(InferenceError) {
        for (i, rec) in input.recordings.enumerated() {
            if let bad = rec.firstIndex(where: { !$0.isFinite }) {
                throw InferenceError(.nonFinite, "recording \(i): sample \(bad) is NaN or infinite")
            }
            let need = Int((10 * input.fs).rounded(.up))
            guard rec.count >= need else {
                throw InferenceError(.tooShort, "recording \(i): \(PreprocessingError.tooShort(samples: rec.count, needed: need, fs: input.fs))")
            }
        }
    }

    /// R peaks of each recording (sample indices at the input's own rate) and, per
    /// consecutive 10 s window, heart rate, SDNN, RMSSD, beats and the quality grade
    /// /embed and /classify give the window (computed on the preprocessed window).
    package func features(_ input: InferenceRequest) -> FeaturesResult {
        let fs = input.fs
        let win = Int((10 * fs).rounded())
        var out = FeaturesResult(peaks: [], windows: [])
        for (i, rec) in input.recordings.enumerated() {
            let peaks = RPeaks.detect(rec, fs: fs)
            out.peaks.append(peaks)
            // One grade per window: the one /embed and /classify give it (on the
            // preprocessed 256 Hz window), not a second one from the raw signal.
            let prepared = try? pipeline.prepare(rec, fs: fs, preprocessed: input.preprocessed)
            for k in 0..<(rec.count / win) {
                // The raw signal's own indices only where the window has no preprocessed twin.
                if let p = prepared, k < p.count {
                    let f = HRVFeatures(peaks: peaks, fs: fs, start: k * win, end: (k + 1) * win)
                    out.windows.append((i, k * 10, f.graded(as: Self.windowFeatures(Self.window(p, k)))))
                } else {
                    out.windows.append((i, k * 10, HRVFeatures(peaks: peaks, fs: fs, start: k * win, end: (k + 1) * win, signal: rec)))
                }
            }
        }
        return out
    }
}
