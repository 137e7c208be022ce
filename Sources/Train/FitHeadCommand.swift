import ArgumentParser
import Foundation
import Model
import Training
import NPY

/// Fits the served affect head with the configuration the nested protocol chose.
struct FitHeadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit-head",
        abstract:
            "Fit a two-class logistic-regression head on heart-rate features and/or the embedding, optionally relative to a personal baseline, and add it to a weights directory.",
        discussion: """
            The head reads per window what --features names (embedding, heart_rate_bpm, sdnn_ms,
            rmssd_ms; comma-separated), averaged over the usable windows within ±--context of it in
            its recording, and with --baseline-seconds S minus the person's baseline: the mean over
            the usable windows among the first S seconds of their first recording of the first
            label (rest), which are then not trained on. Windows graded unusable are left out, as
            the server leaves them unscored. Features and grades are computed by the code ecg-server
            runs (HeadInputs.assemble, HRVFeatures.window), so the head is served as it was fitted.
            The fit: logistic regression on standardised inputs, classes weighted, L2 = 1/(C · n)
            (scikit-learn's C), then the logit divided by --temperature. Choose --features,
            --context, --c and --temperature with scripts/stress_protocol.py (nested, never-seen
            subjects); --metrics copies its figures for this model into the manifest.
            --augmented A.npz (repeatable; `ecg-train prepare ... --augment hum,noise`, otherwise the
            same command as --data) adds each window's perturbed copy to the training rows, graded
            and assembled the same way (a copy graded unusable is left out); the personal baseline
            is always the clean one, as check_robustness.py sends it.
            Example:
              ecg-train fit-head --data eval.npz --weights weights --head stress --labels rest,stress \\
                  --features heart_rate_bpm --context 2 --c 1 --temperature 1.2 --baseline-seconds 60 --out weights
            """)

    @Option(help: "Dataset .npz made by `ecg-train prepare` (no overlap).") var data: String
    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(help: "Head name.") var head: String = "stress"
    @Option(help: "The two labels, class 0 (the resting one) then class 1.") var labels: String = "rest,stress"
    @Option(help: "Comma-separated inputs: embedding, heart_rate_bpm, sdnn_ms, rmssd_ms.") var features: String = "heart_rate_bpm"
    @Option(help: "Context: windows either side averaged in (0 = the window alone).") var context: Int = 0
    @Option(help: "Inverse L2 strength, as scikit-learn's C.") var c: Double = 1
    @Option(help: "Temperature the logit is divided by.") var temperature: Double = 1
    @Option(help: "Fit relative to a personal baseline of this many seconds (0 = no baseline).") var baselineSeconds: Double = 0
    @Option(help: "A dataset prepared like --data plus --augment (repeatable): its windows are trained on too, as extra copies; the baseline stays --data's.")
    var augmented: [String] = []
    @Option(help: "protocol.json of scripts/stress_protocol.py, to copy this model's figures into the manifest.") var metrics: String?
    @Option(help: "The model's row in --metrics.") var metricsModel: String?
    @Option(help: "Output weights directory (may be --weights itself; other heads are kept, a head of the same name and baseline kind is replaced).") var out:
        String
    @OptionGroup var threadsOption: ThreadsOption

    func validate() throws {
        guard c > 0, c.isFinite, temperature > 0, temperature.isFinite else { throw ValidationError("--c and --temperature must be positive") }
        guard baselineSeconds == 0 || baselineSeconds >= HeadInputs.minimumBaselineSeconds else {
            throw ValidationError("--baseline-seconds must be 0 or at least \(Int(HeadInputs.minimumBaselineSeconds)) (what the server requires of a baseline)")
        }
        do { try inputs.validate(head: head) } catch { throw ValidationError("\(error)") }
        guard labels.split(separator: ",").count == 2 else { throw ValidationError("--labels needs exactly two labels") }
        guard (metrics == nil) == (metricsModel == nil) else { throw ValidationError("--metrics and --metrics-model go together") }
    }

    var inputs: HeadInputs {
        HeadInputs(
            features: features.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, contextWindows: context,
            baseline: baselineSeconds > 0 ? HeadInputs.difference : nil)
    }

    func run() throws {
        let ds: Dataset, manifest: Manifest
        do { ds = try Dataset.read(path: data); manifest = try Manifest.load(directory: weights) } catch { throw Failure("\(error)") }
        try ds.checkPolarity(path: data, against: manifest, weights: weights)
        if let f = ds.names.preprocessing["filter"], f != manifest.input.preprocessing.filter {
            throw Failure("\(data) was filtered with \(f) but \(weights) expects \(manifest.input.preprocessing.filter): prepare it again with --filter")
        }
        let wanted = labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let spec = inputs
        let n = EncoderGeometry.windowLength
        // Labelled windows, their index within their record, and their grade.
        var rows: [Int] = [], y: [Int] = [], index: [Int] = []
        var seen: [Int64: Int] = [:]
        for i in 0..<ds.count {
            let k = seen[ds.record[i], default: 0]
            seen[ds.record[i]] = k + 1
            guard ds.label[i] >= 0, let c = wanted.firstIndex(of: ds.names.labels[Int(ds.label[i])]) else { continue }
            rows.append(i); y.append(c); index.append(k)
        }
        guard y.contains(0), y.contains(1) else { throw Failure("both labels need windows in \(data)") }
        var net: SSLNetwork?
        if spec.needsEmbedding {
            do { net = try WeightsDirectory.loadNetwork(weights) } catch { throw Failure("\(error)") }
        }
        /// HRV features with their grade, and the embedding if the head reads it, of `rows` of `set`.
        func measure(_ set: Dataset) throws -> (feats: [HRVFeatures], emb: [Float]) {
            let feats = rows.map { HRVFeatures.window(set.windows[($0 * n)..<(($0 + 1) * n)]) }
            guard let net else { return (feats, []) }
            var x = [Float](); x.reserveCapacity(rows.count * n)
            for i in rows { x.append(contentsOf: set.windows[(i * n)..<((i + 1) * n)]) }
            return (feats, try net.encoder.embed(x, threads: threadsOption.threads))
        }
        let clean = try measure(ds)
        var augmentNames: [String] = []
        let copies: [(feats: [HRVFeatures], emb: [Float])] = try augmented.map { path in
            let a: Dataset
            do { a = try Dataset.read(path: path) } catch { throw Failure("\(error)") }
            guard a.count == ds.count, a.record == ds.record, a.label == ds.label, a.subject == ds.subject, a.names.records == ds.names.records,
                a.names.preprocessing["filter"] == ds.names.preprocessing["filter"], a.names.preprocessing["polarity"] == ds.names.preprocessing["polarity"],
                a.names.preprocessing["augment"] != nil
            else {
                throw Failure("\(path) does not align with \(data): prepare it with the same command plus --augment")
            }
            augmentNames.append(a.names.preprocessing["augment"] ?? "")
            return try measure(a)
        }
        // Baseline windows: the first S seconds of each subject's first class-0 record. They
        // and the rest of that record are separate segments, as a client sends them.
        let baseWindows = Int((baselineSeconds / 10).rounded(.down))
        var restRecord: [Int64: Int64] = [:]
        for (k, i) in rows.enumerated() where y[k] == 0 && restRecord[ds.subject[i]] == nil { restRecord[ds.subject[i]] = ds.record[i] }
        let isBase = rows.indices.map { k in baseWindows > 0 && restRecord[ds.subject[rows[k]]] == ds.record[rows[k]] && index[k] < baseWindows }
        func windows(_ feats: [HRVFeatures]) -> [HeadInputs.Window] {
            rows.indices.map { k in
                HeadInputs.Window(
                    recording: Int(ds.record[rows[k]]) * 2 + (isBase[k] ? 1 : 0), index: index[k],
                    usable: feats[k].quality.isUsable, features: feats[k])
            }
        }
        let cleanWindows = windows(clean.feats)
        let copyWindows = copies.map { windows($0.feats) }
        func embeddings(_ e: [Float], _ ks: [Int]) -> [Float] {
            spec.needsEmbedding ? ks.flatMap { e[($0 * EncoderGeometry.embeddingSize)..<(($0 + 1) * EncoderGeometry.embeddingSize)] } : []
        }
        var x: [Double] = [], yy: [Int] = []
        var subjectsUsed = Set<Int64>()
        var augmentedRows = 0
        let bySubject = Dictionary(grouping: rows.indices, by: { ds.subject[rows[$0]] })
        for (s, ks) in bySubject.sorted(by: { $0.key < $1.key }) {
            var base: [Double]?
            if baseWindows > 0 {
                let bk = ks.filter { isBase[$0] }
                guard let m = spec.baselineMean(bk.map { cleanWindows[$0] }, embeddings: embeddings(clean.emb, bk)) else { continue }
                base = m.mean
            }
            let tk = ks.filter { !isBase[$0] }
            // Copy 0 is the clean data; 1... the augmented copies.
            for copy in 0...copies.count {
                let w = copy == 0 ? cleanWindows : copyWindows[copy - 1], e = copy == 0 ? clean.emb : copies[copy - 1].emb
                let assembled = spec.assemble(tk.map { w[$0] }, embeddings: embeddings(e, tk), baseline: base)
                for (j, k) in tk.enumerated() {
                    guard let v = assembled[j] else { continue }
                    x.append(contentsOf: v.map(Double.init)); yy.append(y[k]); subjectsUsed.insert(s)
                    if copy > 0 { augmentedRows += 1 }
                }
            }
        }
        guard yy.contains(0), yy.contains(1) else { throw Failure("after leaving out unusable and baseline windows, a class has no windows") }
        let lr = LogisticRegression(x: x, y: yy, dims: spec.count, l2: 1 / (c * Double(yy.count)), iterations: 2000, learningRate: 0.05)
        let fitted = lr.head(name: head, labels: wanted).scaled(temperature: Float(temperature))
        print(
            "fitted \(head) on \(yy.count) usable windows (\(augmentedRows) of them augmented copies) of \(subjectsUsed.count) subjects (\(wanted[0]) \(yy.filter { $0 == 0 }.count), \(wanted[1]) \(yy.filter { $0 == 1 }.count)); inputs \(spec.features), context ±\(context), baseline \(baselineSeconds > 0 ? "\(Int(baselineSeconds)) s" : "none")"
        )
        // Figures of this model from the protocol.
        var figures: [String: Double] = [
            "C": c, "temperature": temperature, "training_windows": Double(yy.count), "training_subjects": Double(subjectsUsed.count),
            "training_windows_augmented": Double(augmentedRows),
        ]
        var protocolText =
            "logistic regression (C = \(c), classes weighted, standardisation folded in), T = \(temperature); chosen and evaluated by scripts/stress_protocol.py"
        if !augmentNames.isEmpty { protocolText += "; trained on the clean windows and augmented copies (\(augmentNames.joined(separator: "; ")))" }
        if let m = metrics, let key = metricsModel {
            guard let d = FileManager.default.contents(atPath: m), let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                let r = j[key] as? [String: Any]
            else { throw Failure("\(m): no model '\(key)'") }
            for k in ["balanced_accuracy", "roc_auc", "brier_p_stress", "brier_base_rate", "windows", "subjects", "per_subject_mean", "per_subject_min"] {
                if let v = r[k] as? Double { figures[k] = v } else if let v = r[k] as? Int { figures[k] = Double(v) }
            }
            for k in ["balanced_accuracy_ci95", "roc_auc_ci95"] {
                if let v = r[k] as? [Double], v.count == 2 { figures[k + "_low"] = v[0]; figures[k + "_high"] = v[1] }
            }
            protocolText += "; figures: nested leave-one-subject-out over subjects the encoder never saw ('\(key)')"
        }
        // Write: keep the other heads.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var heads: [Manifest.Head] = []
        let file = "head_\(head)\(spec.needsBaseline ? "_baseline" : "").npz"
        for h in manifest.heads where !(h.name == head && (h.inputs?.needsBaseline ?? false) == spec.needsBaseline) {
            if out != weights {
                let b = try Manifest.readChecked(directory: weights, .init(file: h.file, sha256: h.sha256))
                try writeFileAtomically(b, path: out + "/" + h.file)
            }
            heads.append(h)
        }
        var t: [String: NPYArray] = [:]
        for (k, v) in fitted.tensors { t[k.replacingOccurrences(of: "/", with: ".")] = v }
        let bytes = NPZ.encode(t)
        try writeFileAtomically(bytes, path: out + "/" + file)
        var entry = Manifest.Head(name: head, labels: wanted, file: file, sha256: sha256Hex(bytes), metrics: figures, protocolDescription: protocolText)
        entry.inputs = spec
        heads.append(entry)
        var m2 = manifest
        m2.heads = heads
        if out != weights {
            for f in [manifest.encoder] + manifest.reportFiles {
                let b = try Manifest.readChecked(directory: weights, f)
                try writeFileAtomically(b, path: out + "/" + f.file)
            }
        }
        try writeFileAtomically([UInt8](m2.encoded()), path: out + "/manifest.json")
        print("wrote \(out)/\(file) and \(out)/manifest.json")
    }
}
