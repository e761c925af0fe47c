// The demo world: the oracle, the mistakes (always wrong), deterministic and disjoint data, the demo
// tokenizer (loads, round-trips, single-token pieces), chat SFT examples that train exactly the
// assistant turn, and the pairwise judge's training target sitting where the judge reads P(A).

import XCTest
import Foundation
import Kernels
import Llama
import Checkpoints
import Optimization
import Tokenizers
@testable import Pipeline
import TestSupport
import Support
@testable import Demo

final class DemoWorldTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        Parallel.setThreads(2)
        tmp = try TinyModels.temporaryDirectory("demo")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func smallSettings(seed: UInt64 = 11) -> DemoWorldSettings {
        var s = DemoWorldSettings()
        s.seed = seed; s.promptsPerIteration = 30; s.evaluationPrompts = 20; s.sftExamples = 400
        s.judgePairs = 60; s.judgeEvaluationPairs = 25
        return s
    }

    // MARK: oracle

    func testOracle() {
        XCTAssertEqual(SortTask.prompt([7, 2, 9, 4]), "sort: 7294")
        XCTAssertEqual(SortTask.answer([7, 2, 9, 4]), "2479")
        XCTAssertEqual(SortTask.digits(ofPrompt: "sort: 7294"), [7, 2, 9, 4])
        XCTAssertNil(SortTask.digits(ofPrompt: "reverse: 7294"))
        XCTAssertEqual(SortTask.score(prompt: "sort: 7294", response: "2479"), 1)
        XCTAssertEqual(SortTask.score(prompt: "sort: 7294", response: " 2479\n"), 1, "surrounding whitespace is ignored")
        for wrong in ["2497", "247", "24799", "2478", "9742", "2 4 7 9", "", "2479."] {
            XCTAssertEqual(SortTask.score(prompt: "sort: 7294", response: wrong), 0, wrong)
        }
        XCTAssertEqual(SortTask.score(messages: [PromptMessage(role: "user", content: "sort: 310")], response: "013"), 1)
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "2479"), "correct")
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "2749"), "unsorted")
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "249"), "missing digit")
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "24779"), "extra digit")
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "2459"), "wrong digit")
        XCTAssertEqual(SortTask.verdict(prompt: "sort: 7294", response: "24 79"), "malformed")
    }

    func testEveryMistakeIsWrong() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<300 {
            let n = 3 + Int(rng.next() % 3)
            var pool = Array(0...9); pool.shuffle(using: &rng)
            let digits = Array(pool.prefix(n))
            for m in SortMistake.allCases {
                for second in [nil] + SortMistake.allCases.map(Optional.some) {
                    let answer = DemoWorld.wrongAnswer(digits, mistakes: [m] + (second.map { [$0] } ?? []), rng: &rng)
                    XCTAssertEqual(SortTask.score(prompt: SortTask.prompt(digits), response: SortTask.format(answer)), 0,
                                   "\(m) \(String(describing: second)) on \(digits) gave the correct answer")
                }
            }
        }
    }

    // MARK: data

    func testWorldIsDeterministicDisjointAndImperfect() throws {
        let s = smallSettings()
        let a = try DemoWorld(settings: s), b = try DemoWorld(settings: s)
        XCTAssertEqual(a.sft, b.sft)
        XCTAssertEqual(a.judgeTraining, b.judgeTraining)
        XCTAssertEqual(a.iterationPrompts.map { $0.map(\.prompt) }, b.iterationPrompts.map { $0.map(\.prompt) })
        XCTAssertNotEqual(try DemoWorld(settings: smallSettings(seed: 12)).sft, a.sft)

        // Evaluation and iteration prompts are disjoint from each other and from everything trained on.
        let evaluation = Set(a.evaluationPrompts.map(\.prompt))
        let iterations = a.iterationPrompts.map { Set($0.map(\.prompt)) }
        let trained = Set(a.sft.map(\.prompt) + a.judgeTraining.map(\.prompt))
        XCTAssertEqual(evaluation.count, s.evaluationPrompts)
        for (i, split) in iterations.enumerated() {
            XCTAssertEqual(split.count, s.promptsPerIteration)
            XCTAssertTrue(split.isDisjoint(with: evaluation))
            XCTAssertTrue(split.isDisjoint(with: trained))
            for other in iterations[(i + 1)...] { XCTAssertTrue(split.isDisjoint(with: other)) }
        }
        XCTAssertTrue(evaluation.isDisjoint(with: trained))
        XCTAssertEqual(Set(a.judgeEvaluation.map(\.prompt)), evaluation, "held-out judge pairs use the evaluation prompts")
        let ids = a.evaluationPrompts.map(\.id) + a.iterationPrompts.flatMap { $0.map(\.id) } + a.sft.map(\.id) + a.judgeTraining.map(\.id)
        XCTAssertEqual(Set(ids).count, ids.count, "ids are unique")

        // SFT answers: wrong at about the configured rate, and the oracle agrees with the labels.
        let wrong = a.sft.filter { SortTask.score(prompt: $0.prompt, response: $0.answer) == 0 }
        XCTAssertEqual(wrong.count, a.sft.filter { $0.mistake != nil }.count)
        XCTAssertEqual(Double(wrong.count) / Double(a.sft.count), s.sftMistakeRate, accuracy: 0.08)
        XCTAssertEqual(Set(wrong.compactMap(\.mistake)), Set(s.sftMistakes))
        for p in a.judgeTraining + a.judgeEvaluation {
            XCTAssertEqual(SortTask.score(prompt: p.prompt, response: p.better), 1)
            XCTAssertEqual(SortTask.score(prompt: p.prompt, response: p.worse), 0)
        }
    }

    func testWrittenFilesAreByteIdenticalAndReadable() throws {
        let world = try DemoWorld(settings: smallSettings())
        let one = tmp.appendingPathComponent("one"), two = tmp.appendingPathComponent("two")
        try world.write(to: one)
        try DemoWorld(settings: smallSettings()).write(to: two)
        let files = [DemoWorld.Layout.settings, DemoWorld.Layout.sft, DemoWorld.Layout.evaluationPrompts, DemoWorld.Layout.iterationPrompts(1),
                     DemoWorld.Layout.judgeTraining, DemoWorld.Layout.judgeEvaluation, "tokenizer/tokenizer.json",
                     "tokenizer/tokenizer_config.json", DemoWorld.Layout.policyInit + "/model.safetensors",
                     DemoWorld.Layout.judgeInit + "/model.safetensors", DemoWorld.Layout.judgeInit + "/config.json"]
        for f in files {
            XCTAssertEqual(try Data(contentsOf: one.appendingPathComponent(f)), try Data(contentsOf: two.appendingPathComponent(f)), f)
        }
        let prompts = try PromptFile.read(one.appendingPathComponent(DemoWorld.Layout.iterationPrompts(2)))
        XCTAssertEqual(prompts.map(\.id), world.iterationPrompts[1].map(\.id))
        XCTAssertEqual(prompts.first?.prompt, .messages([PromptMessage(role: "user", content: world.iterationPrompts[1][0].prompt)]))
        let pairs = try PairRecord.read(one.appendingPathComponent(DemoWorld.Layout.judgeTraining))
        XCTAssertEqual(pairs.map(\.chosen), world.judgeTraining.map(\.better))
        XCTAssertEqual(pairs.map(\.rejected), world.judgeTraining.map(\.worse))
        let chats = try ChatDataFile.read(one.appendingPathComponent(DemoWorld.Layout.sft))
        XCTAssertEqual(chats.count, world.sft.count)
        XCTAssertEqual(chats[0].messages.map(\.role), ["user", "assistant"])
        // The models are ordinary directories whose tokenizer fits their vocabulary.
        let policy = try ChatModel(directory: one.appendingPathComponent(DemoWorld.Layout.policyInit))
        XCTAssertEqual(policy.model.config.vocabSize, DemoTokenizer.modelVocabularySize)
        XCTAssertEqual(policy.stopTokens, Set(DemoTokenizer.eosTokenIds))
    }

    // MARK: tokenizer

    func testTokenizerLoadsAndRoundTrips() throws {
        try DemoTokenizer.write(to: tmp)
        let t = try Tokenizer(url: tmp)
        XCTAssertEqual(t.vocabularySize, DemoTokenizer.vocabularySize)
        XCTAssertEqual(t.bosToken, DemoTokenizer.bosToken)
        XCTAssertEqual(t.bosTokenId, DemoTokenizer.specialTokenId("<|begin_of_text|>"))
        XCTAssertEqual(t.eosTokenId, DemoTokenizer.specialTokenId("<|eot_id|>"))
        for text in ["sort: 7294", "2479", "Hello, world!\n\n  tabs\tand spaces ", "Ünïcödé, 日本語 and emoji 🎉",
                     "[CONTEXT] \n\n\n<turn> user\n sort: 310\n\n\n [RESPONSE A] 013 [RESPONSE B] 031", "users assistants sorted"] {
            let ids = try t.encode(text, addSpecialTokens: false)
            XCTAssertEqual(try t.decode(ids), text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < DemoTokenizer.vocabularySize })
        }
        XCTAssertEqual(try t.encode("hi", addSpecialTokens: true).first, t.bosTokenId)
        for single in ["A", "B", "user", "assistant", " [", "RESPONSE", "<|eot_id|>", "<|start_header_id|>"] {
            XCTAssertEqual(try t.encode(single, addSpecialTokens: false).count, 1, single)
        }
        XCTAssertEqual(try t.encode("7294", addSpecialTokens: false).count, 4, "one token per digit")
        XCTAssertEqual(try t.decode(try t.encode("<|start_header_id|>user<|end_header_id|>", addSpecialTokens: false), skipSpecialTokens: true), "user")
        // The judge's prompt is short: the repeated pieces are single tokens.
        let judgeText = "[CONTEXT] \n\n\n<turn> user\n sort: 7294\n\n\n [RESPONSE A] 2479 [RESPONSE B] 2749"
        XCTAssertLessThanOrEqual(try t.encode(judgeText, addSpecialTokens: false).count, 34)
        XCTAssertEqual(try DemoTokenizer.tokenizerJSON(), try DemoTokenizer.tokenizerJSON())
    }

    // MARK: training examples

    func testSupervisedExampleTrainsExactlyTheAssistantTurn() throws {
        try DemoWorld(settings: smallSettings()).write(to: tmp)
        let chat = try ChatModel(directory: tmp.appendingPathComponent(DemoWorld.Layout.policyInit))
        let messages = [PromptMessage(role: "user", content: "sort: 7294"), PromptMessage(role: "assistant", content: "2479")]
        let example = try chat.supervisedExample(ChatExample(id: "x", messages: messages))
        let prompt = try chat.promptTokens(.messages(Array(messages.prefix(1))), maxTokens: .max).tokens
        let pair = try chat.pairTokens(prompt: .messages(Array(messages.prefix(1))), chosen: "2479", rejected: "2479")
        XCTAssertEqual(pair.prompt, prompt)
        let response = pair.chosen
        XCTAssertEqual(example.tokens, prompt + response, "the same ids generation and DPO training see")
        XCTAssertEqual(example.trained, Array(repeating: false, count: prompt.count) + Array(repeating: true, count: response.count))
        XCTAssertEqual(try chat.tokenizer.decode(response), "2479<|eot_id|>")

        // Two assistant turns: both trained, the user turn between them not.
        let long = messages + [PromptMessage(role: "user", content: "sort: 310"), PromptMessage(role: "assistant", content: "013")]
        let two = try chat.supervisedExample(ChatExample(id: "y", messages: long))
        let trainedText = try chat.tokenizer.decode(zip(two.tokens, two.trained).filter(\.1).map(\.0))
        XCTAssertEqual(trainedText, "2479<|eot_id|>013<|eot_id|>")
        XCTAssertEqual(try chat.tokenizer.decode(two.tokens), try chat.template!.render(
            conversation: long.map { ($0.role, $0.content) }, addGenerationPrompt: false,
            bosToken: chat.tokenizer.bosToken, eosToken: chat.tokenizer.eosToken))
    }

    func testJudgeTrainingTargetIsWhereTheJudgeReadsPA() throws {
        try DemoWorld(settings: smallSettings()).write(to: tmp)
        let judge = try PairwiseJudge(directory: tmp.appendingPathComponent(DemoWorld.Layout.judgeInit))
        let messages = [PromptMessage(role: "user", content: "sort: 7294")]
        let context = try judge.pairwiseContext(messages)
        let prompt = try judge.pairwiseTokens(context: context, a: "2479", b: "2749")
        let asA = try judge.pairwiseTrainingExample(id: "a", messages: messages, a: "2479", b: "2749", aIsBetter: true)
        let asB = try judge.pairwiseTrainingExample(id: "b", messages: messages, a: "2479", b: "2749", aIsBetter: false)
        let tokenA = try judge.tokenizer.encode("A", addSpecialTokens: false)[0], tokenB = try judge.tokenizer.encode("B", addSpecialTokens: false)[0]
        XCTAssertEqual(asA.tokens, prompt + [tokenA])
        XCTAssertEqual(asB.tokens, prompt + [tokenB])
        XCTAssertEqual(asA.trained, Array(repeating: false, count: prompt.count) + [true])
        XCTAssertEqual(asA.trainedTokenCount, 1)

        // The trained log-probs of "A" and "B" (training forward) give the judge's P(A) (KV-cache inference).
        let model = judge.model
        let L = prompt.count
        let batch = TokenBatch(tokens: prompt + prompt, targets: Array(prompt.dropFirst()) + [tokenA] + Array(prompt.dropFirst()) + [tokenB],
                               lengths: [L, L], maxLength: L)
        let ws = TrainingWorkspace(config: model.config, capacity: 2 * Matmul.paddedRows(L), maxSequenceLength: L, training: false)
        var logp = [Float](repeating: 0, count: 2 * L)
        try model.forward(batch, workspace: ws, logProbs: &logp, training: false)
        let la = Double(logp[L - 1]), lb = Double(logp[2 * L - 1])
        let fromTraining = exp(la) / (exp(la) + exp(lb))
        let fromJudge = try judge.pairwiseProbability(context: context, "2479", "2749").probabilityFirstAsA!
        XCTAssertEqual(fromTraining, fromJudge, accuracy: 1e-5)
    }

    func testJudgeAgreementCountsTheOraclesSide() throws {
        try DemoWorld(settings: smallSettings()).write(to: tmp)
        let judge = try PairwiseJudge(directory: tmp.appendingPathComponent(DemoWorld.Layout.judgeInit))
        let pairs = try PairRecord.read(tmp.appendingPathComponent(DemoWorld.Layout.judgeEvaluation))
        let report = try DemoEvaluation.judgeAgreement(judge: judge, pairs: pairs)
        XCTAssertEqual(report.pairs, pairs.count)
        XCTAssertEqual(report.byGroup.values.reduce(0) { $0 + $1[1] }, pairs.count)
        // Swapping chosen and rejected turns agreement a into 1 − a (no exact ties for a random model).
        let swapped = pairs.map { p -> PairRecord in var q = p; swap(&q.chosen, &q.rejected); return q }
        let flipped = try DemoEvaluation.judgeAgreement(judge: judge, pairs: swapped)
        XCTAssertEqual(report.agreement + flipped.agreement, 1, accuracy: 1e-12)
    }
}
