// Jinja resolves names partly at compile time (idtracking.py): a frame's variable that is first
// assigned unconditionally at the frame's own level, and that no enclosing frame uses, starts out
// undefined, even when the context has a variable of that name. Nested loops and macros that read
// it before the assignment runs see undefined. This pass finds those names for every frame; the
// scope chain of the renderer reproduces everything else (aliasing outer variables, resolving
// context variables).

enum SymbolAnalysis {
    /// What the analysis tracks of one frame (Jinja's `Symbols`, reduced to what changes results).
    private struct FrameSymbols {
        var refs: Set<String>
        var stores: Set<String> = []
        var undefined: [String] = []
        let outerRefs: Set<String>

        init(outerRefs: Set<String>, parameters: [String]) {
            self.outerRefs = outerRefs
            refs = Set(parameters)
            stores = Set(parameters)
        }

        mutating func load(_ name: String) {
            if !refs.contains(name) && !outerRefs.contains(name) { refs.insert(name) }
        }

        mutating func store(_ name: String) {
            stores.insert(name)
            guard !refs.contains(name) else { return }
            refs.insert(name)
            if !outerRefs.contains(name) { undefined.append(name) }
        }
    }

    /// A frame still to analyse once its parent frame's references are complete.
    private struct PendingFrame {
        let body: FrameBody
        let parameters: [String]
        let preludeLoads: [Expression]
    }

    /// Annotates `frame` and every frame nested in it.
    static func annotate(_ frame: FrameBody, parameters: [String] = [], preludeLoads: [Expression] = [],
                         outerRefs: Set<String> = []) {
        var symbols = FrameSymbols(outerRefs: outerRefs, parameters: parameters)
        var children: [PendingFrame] = []
        for expression in preludeLoads { loadNames(in: expression, &symbols) }
        visit(frame.nodes, &symbols, &children)
        frame.undefinedAtEntry = symbols.undefined
        let visible = outerRefs.union(symbols.refs)
        for child in children {
            annotate(child.body, parameters: child.parameters, preludeLoads: child.preludeLoads, outerRefs: visible)
        }
    }

    private static func visit(_ nodes: [Node], _ symbols: inout FrameSymbols, _ children: inout [PendingFrame]) {
        for node in nodes { visit(node, &symbols, &children) }
    }

    private static func visit(_ node: Node, _ symbols: inout FrameSymbols, _ children: inout [PendingFrame]) {
        switch node {
        case .text, .breakLoop, .continueLoop:
            break
        case .output(let expression):
            loadNames(in: expression, &symbols)
        case .conditional(let branches, let otherwise):
            visitConditional(branches[...], otherwise: otherwise, &symbols, &children)
        case .forLoop(let loop, _):
            loadNames(in: loop.iterable, &symbols)
            children.append(PendingFrame(body: loop.body, parameters: targetNames(loop.target) + ["loop"], preludeLoads: []))
            children.append(PendingFrame(body: loop.elseBody, parameters: [], preludeLoads: []))
        case .assign(let target, let expression, _):
            loadNames(in: expression, &symbols)
            store(target, &symbols)
        case .assignBlock(let target, _, let body, _):
            store(target, &symbols)
            children.append(PendingFrame(body: body, parameters: [], preludeLoads: []))
        case .macro(let definition):
            symbols.store(definition.name)
            children.append(PendingFrame(body: definition.body, parameters: definition.parameters.map(\.name),
                                         preludeLoads: definition.parameters.compactMap(\.defaultValue)))
        case .filterBlock(let filters, let body):
            for application in filters { loadNames(in: application.arguments, &symbols) }
            children.append(PendingFrame(body: body, parameters: [], preludeLoads: []))
        case .with(let assignments, let body, _):
            for (_, value) in assignments { loadNames(in: value, &symbols) }
            children.append(PendingFrame(body: body, parameters: assignments.flatMap { targetNames($0.0) }, preludeLoads: []))
        case .scope(let body):
            children.append(PendingFrame(body: body, parameters: [], preludeLoads: []))
        }
    }

    /// Jinja's `visit_If` + `branch_update`: branches are analysed on copies; names they assign
    /// become references resolved at frame entry (never undefined-initialised).
    private static func visitConditional(_ branches: ArraySlice<(condition: Expression, body: [Node])>, otherwise: [Node],
                                         _ symbols: inout FrameSymbols, _ children: inout [PendingFrame]) {
        guard let first = branches.first else { return }
        loadNames(in: first.condition, &symbols)
        let original = symbols
        var body = original
        visit(first.body, &body, &children)
        var elifs = original
        for branch in branches.dropFirst() {
            visitConditional([branch][...], otherwise: [], &elifs, &children)
        }
        var alternative = original
        visit(otherwise, &alternative, &children)
        for branch in [body, elifs, alternative] {
            symbols.refs.formUnion(branch.refs)
            symbols.stores.formUnion(branch.stores)
        }
    }

    private static func targetNames(_ target: AssignTarget) -> [String] {
        switch target {
        case .name(let name): return [name]
        case .tuple(let targets): return targets.flatMap(targetNames)
        case .namespaceAttribute: return []
        }
    }

    private static func store(_ target: AssignTarget, _ symbols: inout FrameSymbols) {
        switch target {
        case .name(let name): symbols.store(name)
        case .tuple(let targets): for t in targets { store(t, &symbols) }
        case .namespaceAttribute(let owner, _, _): symbols.load(owner)
        }
    }

    private static func loadNames(in arguments: CallArguments, _ symbols: inout FrameSymbols) {
        for e in arguments.positional { loadNames(in: e, &symbols) }
        for k in arguments.keywords { loadNames(in: k.value, &symbols) }
        if let e = arguments.starArguments { loadNames(in: e, &symbols) }
        if let e = arguments.starKeywords { loadNames(in: e, &symbols) }
    }

    private static func loadNames(in expression: Expression, _ symbols: inout FrameSymbols) {
        switch expression.kind {
        case .literal: break
        case .name(let name): symbols.load(name)
        case .list(let items), .tuple(let items), .concat(let items):
            for item in items { loadNames(in: item, &symbols) }
        case .dictionary(let entries):
            for entry in entries {
                loadNames(in: entry.key, &symbols)
                loadNames(in: entry.value, &symbols)
            }
        case .attribute(let base, _), .negate(let base), .plus(let base), .not(let base):
            loadNames(in: base, &symbols)
        case .item(let base, let key):
            loadNames(in: base, &symbols)
            loadNames(in: key, &symbols)
        case .slice(let base, let start, let stop, let step):
            loadNames(in: base, &symbols)
            for part in [start, stop, step].compactMap({ $0 }) { loadNames(in: part, &symbols) }
        case .call(let callee, let arguments):
            loadNames(in: callee, &symbols)
            loadNames(in: arguments, &symbols)
        case .filter(let base, _, let arguments), .test(let base, _, let arguments, _):
            loadNames(in: base, &symbols)
            loadNames(in: arguments, &symbols)
        case .binary(_, let left, let right), .and(let left, let right), .or(let left, let right):
            loadNames(in: left, &symbols)
            loadNames(in: right, &symbols)
        case .compare(let first, let operations):
            loadNames(in: first, &symbols)
            for (_, operand) in operations { loadNames(in: operand, &symbols) }
        case .conditional(let condition, let then, let otherwise):
            // Jinja's CondExpr fields are test, expr1, expr2.
            loadNames(in: condition, &symbols)
            loadNames(in: then, &symbols)
            if let otherwise { loadNames(in: otherwise, &symbols) }
        }
    }
}
