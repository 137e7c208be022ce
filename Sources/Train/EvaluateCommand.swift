import ArgumentParser
import Foundation
import Model
import Training
import NPY

/// Subject-wise cross-validation of a binary affect task (e.g. rest vs stress) on frozen
/// embeddings, against a randomly initialised encoder and a heart-rate baseline.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Cross-validate a two-class affect task by subject: SSL embeddings vs a random encoder vs heart-rate features.",
        discussion: """
            On the windows of --data labelled with the two --labels (class 0, class 1), with
            folds by subject (--folds 0: leave one subject out), every model is trained on the
            training subjects and scores the held-out ones:
              ssl_linear     logistic regression on the embedding of --weights
              random_linear  the same on a randomly initialised encoder (--random-seed)
              hr             logistic regression on mean HR, SDNN, RMSSD (Pan-Tompkins R peaks)
              ssl_linear_hr  logistic regression on the embedding and the HR features
              ssl_mlp        the served head (2 × 512 ReLU, dropout) on the embedding (--mlp)
              random_mlp     the same on the random encoder (--mlp)
            Logistic regressions standardise with training statistics and weight the classes
            inversely to their frequency. Reported on all held-out windows pooled: balanced
            accuracy, macro-F1, ROC AUC, Brier score; per subject (subjects with both classes):
            balanced accuracy mean, std, min; per recording (mean P over its windows): balanced
            accuracy and ROC AUC. Writes --out/evaluation.json, --out/predictions.csv and
            prints a Markdown table.
            Example:
              ecg-train prepare --corpus ../shared/data/ecg --out eval.npz
              ecg-train evaluate --data eval.npz --weights weights --labels rest,stress --out eval/
            """)

    @Option(help: "Dataset .npz made by `ecg-train prepare` (no overlap, so windows are distinct).") var data: String
    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(help: "The two labels, class 0 then class 1, comma-separated.") var labels: String = "rest,stress"
    @Option(help: "Folds by subject; 0 = leave one subject out.") var folds: Int = 0
    @Option(help: "Seed of the fold assignment and of the heads.") var seed: UInt64 = 1
    @Option(help: "Seed of the random encoder (Glorot-uniform, as pre-training starts).") var randomSeed: UInt64 = 7
    @Flag(help: "Also train the MLP head (slower).") var mlp = false
    @Option(help: "Epochs of the MLP head.") var epochs: Int = 60
    @Option(help: "Output folder.") var out: String
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    func validate() throws {
        guard folds == 0 || folds >= 2 else { throw ValidationError("--folds must be 0 (leave one subject out) or ≥ 2") }
        guard labels.split(separator: ",").count == 2 else { throw ValidationError("--labels needs exactly two labels, e.g. rest,stress") }
        guard epochs >= 1, threads >= 1 else { throw ValidationError("--epochs and --threads must be positive") }
    }

    struct Model_: Codable {
        var name: String
        var pooled: BinaryScores
        var perSubject: [String: Double]
        var subjectMean: Double, subjectStd: Double, subjectMin: Double
        var recordings: BinaryScores
        /// Reliability curve: per decile of P(class 1), (mean P, observed frequency, count).
        var reliability: [[Double]]
        /// Brier score after temperature scaling fitted within each training fold (linear
        /// models: on inner folds; MLP heads: on the other folds' out-of-fold probabilities),
        /// and the mean fitted temperature.
        var brierCalibrated: Double?
        var temperature: Double?
    }

    func run() throws {
        let ds: Dataset, net: SSLNetwork
        do { ds = try Dataset.read(path: data); net = try WeightsDirectory.loadNetwork(weights) } catch { throw Failure("\(error)") }
        if let m = try? Manifest.load(directory: weights) { try ds.checkPolarity(path: data, against: m, weights: weights) }
        let wanted = labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for l in wanted where !ds.names.labels.contains(l) {
            throw Failure("label '\(l)' does not occur in \(data) (it has: \(ds.names.labels.joined(separator: ", ")))")
        }
        var rows: [Int] = [], y: [Int] = []
        for i in 0..<ds.count where ds.label[i] >= 0 {
            if let c = wanted.firstIndex(of: ds.names.labels[Int(ds.label[i])]) { rows.append(i); y.append(c) }
        }
        guard y.contains(0), y.contains(1) else { throw Failure("both classes need windows in \(data)") }
        let subjects = Array(Set(rows.map { ds.subject[$0] })).sorted()
        let k = folds == 0 ? subjects.count : folds
        guard subjects.count >= max(2, k) else { throw Failure("\(subjects.count) subjects: too few for \(k) folds") }
        var rng = Transformations.RNG(seed: seed)
        var foldOf: [Int64: Int] = [:]
        for (i, s) in subjects.shuffled(using: &rng).enumerated() { foldOf[s] = i % k }
        let fold = rows.map { foldOf[ds.subject[$0]]! }
        FileHandle.standardError.write(
            Data(
                "\(rows.count) windows (\(wanted[0]) \(y.filter { $0 == 0 }.count), \(wanted[1]) \(y.filter { $0 == 1 }.count)) of \(subjects.count) subjects, \(k) folds by subject\n"
                    .utf8))

        // Features: embeddings of both encoders, HR features.
        var x = [Float](); x.reserveCapacity(rows.count * EncoderGeometry.windowLength)
        for i in rows { x.append(contentsOf: ds.windows[(i * EncoderGeometry.windowLength)..<((i + 1) * EncoderGeometry.windowLength)]) }
        let ssl = try net.encoder.embed(x, threads: threads).map(Double.init)
        let random = try Pretrainer.glorotInit(seed: randomSeed).encoder.embed(x, threads: threads).map(Double.init)
        var hr = [Double]()
        var qualities: [String: Int] = [:]
        for r in 0..<rows.count {
            let w = x[(r * EncoderGeometry.windowLength)..<((r + 1) * EncoderGeometry.windowLength)].map(Double.init)
            let f = HRVFeatures(peaks: RPeaks.detect(w, fs: 256), fs: 256, start: 0, end: EncoderGeometry.windowLength, signal: w)
            qualities[f.quality.rawValue, default: 0] += 1
            hr += [f.heartRate ?? .nan, f.sdnn ?? .nan, f.rmssd ?? .nan]
        }
        FileHandle.standardError.write(
            Data(
                "window quality: good \(qualities["good", default: 0]), poor \(qualities["poor", default: 0]), unusable \(qualities["unusable", default: 0]) of \(rows.count) (features missing with < 3 beats are imputed with training means)\n"
                    .utf8))
        var sslHR = [Double]()
        sslHR.reserveCapacity(rows.count * 131)
        for r in 0..<rows.count {
            sslHR.append(contentsOf: ssl[(r * EncoderGeometry.embeddingSize)..<((r + 1) * EncoderGeometry.embeddingSize)])
            sslHR.append(contentsOf: hr[(r * 3)..<((r + 1) * 3)])
        }

        /// Temperatures fitted per fold (linear models), by model.
        var temperatures: [String: [Double]] = [:]
        var calibrated: [String: [Double]] = [:]
        func logit(_ q: Double) -> Double { let c = min(max(q, 1e-7), 1 - 1e-7); return log(c / (1 - c)) }
        func crossValidate(_ name: String, dims: Int, _ feats: [Double], mlpHead: Bool = false) -> [Double] {
            var p = [Double](repeating: 0, count: rows.count)
            var pCal = [Double](repeating: 0, count: rows.count)
            let progress = Progress(total: k, label: name)
            for f in 0..<k {
                let tr = (0..<rows.count).filter { fold[$0] != f }, te = (0..<rows.count).filter { fold[$0] == f }
                if te.isEmpty { continue }
                var xtr = tr.flatMap { feats[($0 * dims)..<(($0 + 1) * dims)] }, xte = te.flatMap { feats[($0 * dims)..<(($0 + 1) * dims)] }
                // Impute missing features (HR of an unusable window) with training means.
                for j in 0..<dims {
                    let vals = tr.indices.map { xtr[$0 * dims + j] }.filter { $0.isFinite }
                    let m = vals.isEmpty ? 0 : vals.reduce(0, +) / Double(vals.count)
                    for i in tr.indices where !xtr[i * dims + j].isFinite { xtr[i * dims + j] = m }
                    for i in te.indices where !xte[i * dims + j].isFinite { xte[i * dims + j] = m }
                }
                let ytr = tr.map { y[$0] }
                let q: [Double]
                if mlpHead {
                    // Class balance by oversampling the minority class.
                    var idx = Array(tr.indices)
                    let pos = idx.filter { ytr[$0] == 1 }, neg = idx.filter { ytr[$0] == 0 }
                    let (small, big) = pos.count < neg.count ? (pos, neg) : (neg, pos)
                    if !small.isEmpty { for i in 0..<(big.count - small.count) { idx.append(small[i % small.count]) } }
                    var t = HeadTrainer()
                    t.epochs = epochs; t.seed = seed &+ UInt64(f)
                    let h = t.train(
                        name: "eval", labels: wanted, x: idx.flatMap { xtr[($0 * dims)..<(($0 + 1) * dims)].map(Float.init) }, y: idx.map { ytr[$0] })
                    let pr = h.probabilities(xte.map(Float.init))
                    q = (0..<te.count).map { Double(pr[$0 * 2 + 1]) }
                } else {
                    q = LogisticRegression(x: xtr, y: ytr, dims: dims).probabilities(xte)
                    // Temperature scaling fitted within the training fold: out-of-fold logits
                    // of 4 inner folds by subject, never the test subjects.
                    let subj = tr.map { ds.subject[rows[$0]] }
                    var inner: [Int64: Int] = [:]
                    for (i, s) in Array(Set(subj)).sorted().enumerated() { inner[s] = i % 4 }
                    var oof = [Double](repeating: 0, count: tr.count), have = [Bool](repeating: false, count: tr.count)
                    for g in 0..<4 {
                        let a = tr.indices.filter { inner[subj[$0]] != g }, b = tr.indices.filter { inner[subj[$0]] == g }
                        if a.isEmpty || b.isEmpty || Set(a.map { ytr[$0] }).count < 2 { continue }
                        let m = LogisticRegression(x: a.flatMap { xtr[($0 * dims)..<(($0 + 1) * dims)] }, y: a.map { ytr[$0] }, dims: dims)
                        let pb = m.probabilities(b.flatMap { xtr[($0 * dims)..<(($0 + 1) * dims)] })
                        for (i, r) in b.enumerated() { oof[r] = logit(pb[i]); have[r] = true }
                    }
                    let idx = tr.indices.filter { have[$0] }
                    let t = idx.isEmpty ? 1 : fitTemperature(logits: idx.map { oof[$0] }, truth: idx.map { ytr[$0] })
                    temperatures[name, default: []].append(t)
                    for (i, r) in te.enumerated() { pCal[r] = 1 / (1 + exp(-logit(q[i]) / t)) }
                }
                for (i, r) in te.enumerated() { p[r] = q[i] }
                progress.update(f + 1)
            }
            progress.finish()
            if !mlpHead {
                calibrated[name] = pCal
            } else {
                // The MLP is too costly to retrain on inner folds: its temperature for each
                // test fold is fitted on the other folds' out-of-fold probabilities (cross-fitting).
                let cf = crossFittedTemperature(p.flatMap { [1 - $0, $0] }, classes: 2, truth: y, fold: fold)
                calibrated[name] = (0..<rows.count).map { cf.calibrated[2 * $0 + 1] }
                temperatures[name] = cf.temperatures
            }
            return p
        }

        var results: [(String, [Double])] = [
            ("ssl_linear", crossValidate("ssl_linear", dims: EncoderGeometry.embeddingSize, ssl)),
            ("random_linear", crossValidate("random_linear", dims: EncoderGeometry.embeddingSize, random)),
            ("hr", crossValidate("hr", dims: 3, hr)),
            ("ssl_linear_hr", crossValidate("ssl_linear_hr", dims: 131, sslHR)),
        ]
        if mlp {
            results.append(("ssl_mlp", crossValidate("ssl_mlp", dims: EncoderGeometry.embeddingSize, ssl, mlpHead: true)))
            results.append(("random_mlp", crossValidate("random_mlp", dims: EncoderGeometry.embeddingSize, random, mlpHead: true)))
        }

        var models: [Model_] = []
        for (name, p) in results {
            var perSubject: [String: Double] = [:]
            for s in subjects {
                let idx = rows.indices.filter { ds.subject[rows[$0]] == s }
                let t = idx.map { y[$0] }
                guard t.contains(0), t.contains(1) else { continue }
                perSubject[ds.names.subjects[Int(s)]] = BinaryScores(truth: t, probability: idx.map { p[$0] }).balancedAccuracy
            }
            let sv = Array(perSubject.values)
            let sm = sv.isEmpty ? .nan : sv.reduce(0, +) / Double(sv.count)
            let ss = sv.count < 2 ? .nan : (sv.map { ($0 - sm) * ($0 - sm) }.reduce(0, +) / Double(sv.count - 1)).squareRoot()
            // Recordings: mean probability of their windows.
            var recP: [Int64: (Double, Int, Int)] = [:]
            for (i, r) in rows.enumerated() { let e = recP[ds.record[r], default: (0, 0, y[i])]; recP[ds.record[r]] = (e.0 + p[i], e.1 + 1, e.2) }
            let recs = recP.keys.sorted()
            let recScores = BinaryScores(truth: recs.map { recP[$0]!.2 }, probability: recs.map { recP[$0]!.0 / Double(recP[$0]!.1) })
            var rel: [[Double]] = []
            for b in 0..<10 {
                let idx = p.indices.filter { min(9, Int(p[$0] * 10)) == b }
                if idx.isEmpty { continue }
                rel.append([idx.map { p[$0] }.reduce(0, +) / Double(idx.count), Double(idx.filter { y[$0] == 1 }.count) / Double(idx.count), Double(idx.count)])
            }
            let ts = temperatures[name]
            models.append(
                Model_(
                    name: name, pooled: BinaryScores(truth: y, probability: p), perSubject: perSubject,
                    subjectMean: sm, subjectStd: ss, subjectMin: sv.min() ?? .nan, recordings: recScores, reliability: rel,
                    brierCalibrated: calibrated[name].map { BinaryScores(truth: y, probability: $0).brier },
                    temperature: ts.map { $0.reduce(0, +) / Double($0.count) }))
        }

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var csv = "subject,record,truth," + results.map(\.0).joined(separator: ",") + "\n"
        for (i, r) in rows.enumerated() {
            csv +=
                "\(ds.names.subjects[Int(ds.subject[r])]),\(ds.names.records[Int(ds.record[r])]),\(y[i]),"
                + results.map { String(format: "%.5f", $0.1[i]) }.joined(separator: ",") + "\n"
        }
        try writeFileAtomically(Array(csv.utf8), path: out + "/predictions.csv")
        struct Report: Codable {
            var data: String, weights: String, labels: [String], windows: Int, subjects: Int, folds: Int, protocolDescription: String
            var models: [Model_]
        }
        let report = Report(
            data: data, weights: weights, labels: wanted, windows: rows.count, subjects: subjects.count, folds: k,
            protocolDescription: folds == 0 ? "leave-one-subject-out" : "\(k)-fold by subject, seed \(seed)", models: models)
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys];
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeFileAtomically([UInt8](try enc.encode(report)), path: out + "/evaluation.json")
        func f(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.3f", $0) : "–" } ?? "–" }
        print(
            "| model | balanced acc. | macro-F1 | ROC AUC | Brier | Brier, T-scaled (T) | per-subject bal. acc. (mean ± std, min) | recordings bal. acc. | recordings AUC |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m in models {
            let cal = m.brierCalibrated.map { "\(f($0)) (\(f(m.temperature)))" } ?? "–"
            print(
                "| \(m.name) | \(f(m.pooled.balancedAccuracy)) | \(f(m.pooled.macroF1)) | \(f(m.pooled.rocAUC)) | \(f(m.pooled.brier)) | \(cal) | \(f(m.subjectMean)) ± \(f(m.subjectStd)), \(f(m.subjectMin)) | \(f(m.recordings.balancedAccuracy)) | \(f(m.recordings.rocAUC)) |"
            )
        }
    }
}
