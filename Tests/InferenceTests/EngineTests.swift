import Dispatch
import Foundation
import Sync
import Testing
import Inference
import Model
import ModelTestSupport
import TestSupport

/// The inference engine without HTTP: typed requests in, typed results or refusals out.
@Suite struct EngineRules {
    /// Keeps the last gauges the queue published.
    final class GaugeMetrics: InferenceMetrics {
        let gauges = Locked((windows: 0, requests: 0))
        func setWaiting(windows: Int, requests: Int) { gauges.withLock { $0 = (windows, requests) } }
        func spinPickup() {}
        func observeBatch(_ n: Int) {}
        func windowComputed(queued: Double, computed: Double) {}
    }

    static func engine(maxWindows: Int = 64, metrics: GaugeMetrics = GaugeMetrics()) throws -> InferenceEngine {
        let pipeline = try Preprocessing.Pipeline(.init(filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization))
        let queue = InferenceQueue(
            encoder: TF.network.encoder, workers: 1, capacity: 64, maxBatch: 8, batchWaitMs: 0, metrics: metrics,
            cores: CoreBudget(cores: 1))
        return InferenceEngine(network: TF.network, pipeline: pipeline, affect: [], queue: queue, maxWindows: maxWindows, memoryBudgetBytes: 1 << 20)
    }

    /// A seed for `syntheticECG`, printed (ECG_TEST_SEED replays it).
    static func seed(_ test: String) -> UInt64 { var g = SeededRandom(test); return g.next() }

    /// Submits and waits for the completion.
    static func compute(_ e: InferenceEngine, _ r: InferenceRequest) throws -> Result<Computed, InferenceError> {
        let out = Locked<Result<Computed, InferenceError>?>(nil)
        _ = try e.submit(r) { res in out.withLock { $0 = res } }
        waitUntil(timeout: 60) { out.withLock { $0 != nil } }
        return try #require(out.withLock { $0 })
    }

    @Test("a recording becomes its preprocessed windows' embeddings, each window graded as HRVFeatures.window grades it")
    func embeds() throws {
        let e = try Self.engine()
        defer { e.queue.stop() }
        let rec = syntheticECG(seconds: 25, seed: Self.seed("engine-embeds"))
        let c = try Self.compute(e, InferenceRequest(recordings: [rec], fs: 256, preprocessed: false)).get()
        let p = try e.pipeline.prepare(rec, fs: 256)
        #expect(p.count == 2 && c.spans.count == 2 && c.windowsComputed == 2)
        let direct = try TF.network.encoder.embed(p.windows)
        #expect(c.embeddings == direct, "the engine's embeddings differ from the encoder's on the same windows")
        for k in 0..<2 {
            let f = HRVFeatures.window(p.windows[(k * EncoderGeometry.windowLength)..<((k + 1) * EncoderGeometry.windowLength)])
            #expect(c.spans[k].quality == f.quality && c.spans[k].start == Double(k) * 10)
        }
        // The pretext head is served from the same embedding.
        let probs = e.probabilities(try #require(e.heads.first), c)
        #expect(probs.count == 2 && probs.allSatisfy { $0?.count == EncoderGeometry.transformations.count })
    }

    @Test("refusals are typed and come back through the completion; nothing is left in the queue")
    func refusals() throws {
        let e = try Self.engine(maxWindows: 1)
        defer { e.queue.stop() }
        let rec = syntheticECG(seconds: 25, seed: Self.seed("engine-refusals"))
        func kind(_ r: InferenceRequest) throws -> InferenceError.Kind? {
            switch try Self.compute(e, r) {
            case .success: return nil
            case .failure(let error): return error.kind
            }
        }
        #expect(try kind(InferenceRequest(recordings: [rec], fs: 256, preprocessed: false)) == .tooManyWindows)
        #expect(try kind(InferenceRequest(recordings: [rec], fs: 0.5, preprocessed: false)) == .badSampleRate)
        #expect(try kind(InferenceRequest(recordings: [Array(rec[0..<1000])], fs: 256, preprocessed: false)) == .tooShort)
        let short = InferenceRequest(
            recordings: [Array(rec[0..<5000])], fs: 256, preprocessed: false, baseline: .init(samples: Array(rec[0..<5000]), fs: 256))
        #expect(try kind(short) == .baselineTooShort)
        #expect(e.queue.depth == 0 && e.queue.tasksWaiting == 0)
    }

    @Test("a cancelled request leaves the queue and its completion never runs")
    func cancel() throws {
        let e = try Self.engine()
        defer { e.queue.stop() }
        e.queue.setPaused(true)  // windows wait; tasks (preprocessing) still run
        let ran = Locked(false)
        let rec = syntheticECG(seconds: 30, seed: Self.seed("engine-cancel"))
        let cancel = try e.submit(InferenceRequest(recordings: [rec], fs: 256, preprocessed: false)) { _ in ran.withLock { $0 = true } }
        #expect(waitUntil { e.queue.depth == 3 }, "the request's 3 windows never reached the queue")
        cancel()
        #expect(e.queue.depth == 0)
        e.queue.setPaused(false)
        // A later request is computed, so the worker ran; the cancelled one never completed.
        _ = try Self.compute(e, InferenceRequest(recordings: [Array(rec[0..<5000])], fs: 256, preprocessed: false)).get()
        #expect(!ran.withLock { $0 })
    }

    @Test("requests wait for a worker in order, and the requests-waiting gauge follows them")
    func requestsWaiting() throws {
        let metrics = GaugeMetrics()
        let e = try Self.engine(metrics: metrics)
        defer { e.queue.stop() }
        // Occupy the one worker with a task that waits for the test.
        let release = DispatchSemaphore(value: 0)
        let started = Locked(false)
        #expect(
            e.queue.submitTask {
                started.withLock { $0 = true }; release.wait()
            })
        #expect(waitUntil { started.withLock { $0 } })
        let rec = syntheticECG(seconds: 20, seed: Self.seed("engine-waiting"))
        let done = Locked<[Int]>([])
        for k in 0..<2 {
            _ = try e.submit(InferenceRequest(recordings: [rec], fs: 256, preprocessed: false)) { _ in done.withLock { $0.append(k) } }
        }
        #expect(e.queue.tasksWaiting == 2 && metrics.gauges.withLock { $0.requests } == 2)
        release.signal()
        #expect(waitUntil(timeout: 60) { done.withLock { $0.count } == 2 })
        #expect(done.withLock { $0 } == [0, 1], "requests answered out of order")
        #expect(metrics.gauges.withLock { $0.requests } == 0 && metrics.gauges.withLock { $0.windows } == 0)
    }
}
