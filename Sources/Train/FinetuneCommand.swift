import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train an affect head on the frozen encoder, with k-fold cross-validation.",
        discussion: """
            Embeds the labelled windows of --data with the frozen encoder of --weights, then:
              1. k-fold cross-validation (--split window: the paper's protocol, windows of one
                 subject may be in train and test; --split subject: no subject in both), with
                 accuracy, macro-F1 and the paper's F1 (harmonic mean of macro precision and
                 macro recall) per fold, mean and std;
              2. a final head trained on all of them.
            --layers 0 makes the head a logistic regression on the embedding (two labels only;
            standardised with the training windows' statistics, classes weighted, L2 1e-2: the
            `ssl_linear` model of `ecg-train evaluate`), served as a head without hidden layers.
            Writes --out as a weights directory: the encoder, the heads already in --weights, and
            the new head (head_NAME.npz, with its metrics and protocol in the manifest), plus
            cv_NAME.csv and cv_NAME.json beside it.
            """)

    @Option(help: "Dataset .npz made by `ecg-train prepare`.") var data: String
    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(help: "Name of the new head.") var head: String
    @Option(help: "Output weights directory.") var out: String
    @Option(help: "Comma-separated label names to classify, in class order (default: all labels in the data).") var labels: String?
    @Option(help: "Cross-validation folds (≥ 2).") var folds: Int = 10
    @Option(help: "subject: no subject on both sides of a fold; window: the authors' protocol (windows of one subject on both sides).") var split: FoldSplit =
        .subject
    @Option(help: "Training epochs per model.") var epochs: Int = 200
    @Option(help: "Embeddings per batch.") var batch: Int = 128
    @Option(help: "Hidden layers of 512 units: 2 or 3 as the paper; 0 = logistic regression (two labels).") var layers: Int = 2
    @Option(help: "Dropout rate while training.") var dropout: Float = 0.3
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }
    @Flag(
        inversion: .prefixedNo,
        help:
            "Temperature-scale the shipped head: fit T on the cross-validation's out-of-fold probabilities and divide the output layer by it, so that P(class) means what it says — only if that lowers the log-loss with each fold rescaled by a T fitted on the other folds (--no-calibrate: the raw softmax)."
    )
    var calibrate = true
    @Flag(
        inversion: .prefixedNo,
        help: "Oversample the smaller classes while training so that every class weighs the same (--no-balance: plain sampling, as the paper).")
    var balance = true

    /// Rows with the smaller classes repeated (cyclically) up to the largest class's count.
    func balanced(_ rows: [Int], _ y: [Int], classes: Int) -> [Int] {
        guard balance else { return rows }
        let byClass = (0..<classes).map { c in rows.filter { y[$0] == c } }
        let most = byClass.map(\.count).max() ?? 0
        var out = rows
        for members in byClass where !members.isEmpty { for i in 0..<(most - members.count) { out.append(members[i % members.count]) } }
        return out
    }

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
        guard (0...4).contains(layers) else { throw ValidationError("--layers must be 0…4 (0: logistic regression)") }
        guard dropout >= 0, dropout < 1, epochs >= 1 else { throw ValidationError("--dropout in [0, 1), --epochs ≥ 1") }
        guard !head.isEmpty, head.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw ValidationError("--head must be letters, digits, _ or -")
        }
    }

    func run() throws {
        let ds: Dataset
        let net: SSLNetwork
        let manifest: Manifest
        do { ds = try Dataset.read(path: data); net = try WeightsDirectory.loadNetwork(weights); manifest = try Manifest.load(directory: weights) } catch {
            throw Failure("\(error)")
        }
        try ds.checkPolarity(path: data, against: manifest, weights: weights)
        let wanted = labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? ds.names.labels
        for l in wanted where !ds.names.labels.contains(l) {
            throw Failure("label '\(l)' does not occur in \(data) (it has: \(ds.names.labels.joined(separator: ", ")))")
        }
        guard wanted.count >= 2 else { throw Failure("need at least two labels, got \(wanted)") }
        guard layers > 0 || wanted.count == 2 else { throw Failure("--layers 0 (logistic regression) needs exactly two labels, got \(wanted.count)") }
        var rows: [Int] = [], y: [Int] = []
        for i in 0..<ds.count where ds.label[i] >= 0 {
            if let c = wanted.firstIndex(of: ds.names.labels[Int(ds.label[i])]) { rows.append(i); y.append(c) }
        }
        for (c, l) in wanted.enumerated() where !y.contains(c) { throw Failure("class '\(l)' has no windows in \(data)") }
        // Frozen embeddings.
        var x = [Float](); x.reserveCapacity(rows.count * EncoderGeometry.windowLength)
        for i in rows { x.append(contentsOf: ds.windows[(i * EncoderGeometry.windowLength)..<((i + 1) * EncoderGeometry.windowLength)]) }
        let emb = try net.encoder.embed(x, threads: threads)
        let perClass = wanted.indices.map { c in "\(wanted[c]): \(y.filter { $0 == c }.count)" }
        print("embedded \(rows.count) windows (\(perClass.joined(separator: ", ")))")

        // Folds.
        var rng = Transformations.RNG(seed: seed)
        var fold = [Int](repeating: 0, count: rows.count)
        if split == .subject {
            let subjects = Array(Set(rows.map { ds.subject[$0] })).sorted().shuffled(using: &rng)
            guard subjects.count >= folds else {
                throw Failure("--split subject needs at least \(folds) subjects; the labelled windows have \(subjects.count)")
            }
            var fOf: [Int64: Int] = [:]
            for (k, s) in subjects.enumerated() { fOf[s] = k % folds }
            for (k, i) in rows.enumerated() { fold[k] = fOf[ds.subject[i]]! }
        } else {
            var order = Array(0..<rows.count); order.shuffle(using: &rng)
            for (k, i) in order.enumerated() { fold[i] = k % folds }
        }
        var trainer = HeadTrainer()
        trainer.hidden = [Int](repeating: 512, count: layers); trainer.dropout = dropout; trainer.epochs = epochs; trainer.seed = seed
        trainer.batch = batch
        /// One head trained on these rows: the MLP on class-balanced rows, or the logistic
        /// regression (which weights the classes itself) on the rows as they are.
        func fit(_ rows: [Int]) -> AffectHead {
            if layers == 0 {
                let lr = LogisticRegression(
                    x: rows.flatMap { emb[($0 * EncoderGeometry.embeddingSize)..<(($0 + 1) * EncoderGeometry.embeddingSize)].map(Double.init) },
                    y: rows.map { y[$0] }, dims: EncoderGeometry.embeddingSize)
                return lr.head(name: head, labels: wanted)
            }
            let b = balanced(rows, y, classes: wanted.count)
            return trainer.train(
                name: head, labels: wanted, x: b.flatMap { emb[($0 * EncoderGeometry.embeddingSize)..<(($0 + 1) * EncoderGeometry.embeddingSize)] },
                y: b.map { y[$0] })
        }
        var results: [ClassMetrics] = []
        var csv = "fold,n_train,n_test,accuracy,balanced_accuracy,macro_f1,kappa,paper_f1\n"
        let progress = Progress(total: folds + 1, label: "finetune \(head)")
        let k = wanted.count
        var oof = [Double](repeating: .nan, count: rows.count * k)  // out-of-fold class probabilities
        for f in 0..<folds {
            let tr = (0..<rows.count).filter { fold[$0] != f }, te = (0..<rows.count).filter { fold[$0] == f }
            if te.isEmpty || tr.isEmpty { continue }
            let h = fit(tr)
            let p = h.probabilities(te.flatMap { emb[($0 * EncoderGeometry.embeddingSize)..<(($0 + 1) * EncoderGeometry.embeddingSize)] })
            for (i, r) in te.enumerated() { for c in 0..<k { oof[r * k + c] = Double(p[i * k + c]) } }
            let pred = (0..<te.count).map { r in (0..<wanted.count).max { p[r * wanted.count + $0] < p[r * wanted.count + $1] }! }
            let m = ClassMetrics(truth: te.map { y[$0] }, predicted: pred, classes: wanted.count)
            results.append(m)
            csv += "\(f),\(tr.count),\(te.count),\(m.accuracy),\(m.balancedAccuracy),\(m.macroF1),\(m.kappa),\(m.paperF1)\n"
            progress.update(f + 1)
        }
        func stats(_ v: [Double]) -> (Double, Double) {
            let mean = v.reduce(0, +) / Double(v.count)
            return (mean, (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, v.count - 1))).squareRoot())
        }
        let acc = stats(results.map(\.accuracy)), mf1 = stats(results.map(\.macroF1)), pf1 = stats(results.map(\.paperF1))
        let kap = stats(results.map(\.kappa)), bal = stats(results.map(\.balancedAccuracy))
        csv += "mean,,,\(acc.0),\(bal.0),\(mf1.0),\(kap.0),\(pf1.0)\nstd,,,\(acc.1),\(bal.1),\(mf1.1),\(kap.1),\(pf1.1)\n"
        // Temperature: fitted on every out-of-fold probability for the shipped head; its effect
        // is measured honestly by cross-fitting (each fold rescaled with a T fitted on the others).
        let scored = (0..<rows.count).filter { !oof[$0 * k].isNaN }
        let oofP = scored.flatMap { oof[($0 * k)..<(($0 + 1) * k)] }, oofY = scored.map { y[$0] }
        let temperature = fitTemperature(probabilities: oofP, classes: k, truth: oofY)
        let raw = probabilityScores(oofP, classes: k, truth: oofY)
        let cross = crossFittedTemperature(oofP, classes: k, truth: oofY, fold: scored.map { fold[$0] })
        let cal = probabilityScores(cross.calibrated, classes: k, truth: oofY)
        var final = fit(Array(0..<rows.count))
        progress.update(folds + 1)
        progress.finish()
        // Applied only where it helps: when the cross-fitted log-loss is lower than the raw one.
        let helps = cal.logLoss < raw.logLoss
        let applied = calibrate && helps
        if applied { final = final.scaled(temperature: Float(temperature)) }
        print(
            String(
                format:
                    "out-of-fold probabilities: Brier %.4f, log-loss %.4f; temperature-scaled (T fitted on the other folds): Brier %.4f, log-loss %.4f; T on all folds %.3f%@",
                raw.brier, raw.logLoss, cal.brier, cal.logLoss, temperature,
                applied
                    ? " (applied to the shipped head)"
                    : (calibrate ? " (not applied: it does not lower the cross-fitted log-loss)" : " (not applied: --no-calibrate)")))

        // Output weights directory: encoder + existing heads + the new one.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var heads: [Manifest.Head] = []
        for h in manifest.heads where h.name != head {
            let b = try Manifest.readChecked(directory: weights, .init(file: h.file, sha256: h.sha256))
            try writeFileAtomically(b, path: out + "/" + h.file)
            heads.append(h)
        }
        var t: [String: NPYArray] = [:]
        for (k, v) in final.tensors { t[k.replacingOccurrences(of: "/", with: ".")] = v }
        let bytes = NPZ.encode(t)
        try writeFileAtomically(bytes, path: out + "/head_\(head).npz")
        let model =
            layers == 0
            ? "logistic regression on the standardised embedding (classes weighted, L2 1e-2, 400 Adam steps)"
            : "\(layers)×512 ReLU, dropout \(dropout), \(epochs) epochs, Adam 1e-3, seed \(seed)" + (balance ? ", classes balanced by oversampling" : "")
        let protocolText =
            "\(folds)-fold CV split by \(split.rawValue), \(model), \(rows.count) windows"
            + (applied ? String(format: ", temperature-scaled (T = %.3f fitted on the out-of-fold probabilities)", temperature) : "")
        heads.append(
            Manifest.Head(
                name: head, labels: wanted, file: "head_\(head).npz", sha256: sha256Hex(bytes),
                metrics: [
                    "accuracy": acc.0, "accuracy_std": acc.1, "balanced_accuracy": bal.0, "balanced_accuracy_std": bal.1, "macro_f1": mf1.0,
                    "macro_f1_std": mf1.1, "paper_f1": pf1.0, "paper_f1_std": pf1.1, "kappa": kap.0, "kappa_std": kap.1,
                    "brier_oof": raw.brier, "log_loss_oof": raw.logLoss, "brier_oof_temperature_scaled": cal.brier,
                    "log_loss_oof_temperature_scaled": cal.logLoss, "temperature": applied ? temperature : 1,
                ],
                protocolDescription: protocolText))
        _ = try WeightsDirectory.write(
            net, to: out, preprocessing: manifest.input.preprocessing,
            provenance: .init(
                description: manifest.provenance.description + "; head \(head) fine-tuned on \(data)",
                datasets: manifest.provenance.datasets + [data], licenses: manifest.provenance.licenses,
                command: (["ecg-train"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                created: ISO8601DateFormatter().string(from: Date())), heads: heads)
        try writeFileAtomically(Array(csv.utf8), path: out + "/cv_\(head).csv")
        let report: [String: Any] = [
            "head": head, "labels": wanted, "folds": folds, "split": split.rawValue, "windows": rows.count,
            "accuracy": ["mean": acc.0, "std": acc.1], "balanced_accuracy": ["mean": bal.0, "std": bal.1], "macro_f1": ["mean": mf1.0, "std": mf1.1],
            "paper_f1": ["mean": pf1.0, "std": pf1.1], "kappa": ["mean": kap.0, "std": kap.1], "protocol": protocolText,
            "calibration": [
                "temperature": temperature, "applied": applied, "requested": calibrate, "brier_oof": raw.brier, "log_loss_oof": raw.logLoss,
                "brier_oof_cross_fitted": cal.brier, "log_loss_oof_cross_fitted": cal.logLoss,
                "brier_definition": "mean over windows of the sum over classes of (p - onehot)^2",
            ],
            "per_fold": results.map {
                [
                    "accuracy": $0.accuracy, "balanced_accuracy": $0.balancedAccuracy, "macro_f1": $0.macroF1, "kappa": $0.kappa, "paper_f1": $0.paperF1,
                    "n": $0.n,
                ]
            },
        ]
        try writeFileAtomically(
            [UInt8](try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])), path: out + "/cv_\(head).json")
        print(
            String(
                format:
                    "%@: balanced accuracy %.3f ± %.3f, accuracy %.3f ± %.3f, macro-F1 %.3f ± %.3f, kappa %.3f ± %.3f, paper F1 %.3f ± %.3f (%d-fold, split by %@); wrote %@",
                head, bal.0, bal.1, acc.0, acc.1, mf1.0, mf1.1, kap.0, kap.1, pf1.0, pf1.1, folds, split.rawValue, out))
    }
}
