// The import graph of a TypeScript source tree (src/): every relative import, `import type`, `export … from`
// (`export * as ns from` included), `import x = require()`, `require()` and `import()` between its files, read
// from the TypeScript compiler's syntax tree, and the cycles in it between files and between top-level folders.
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

export interface ImportGraph {
  /** Files relative to the root, "/"-separated, e.g. "train/loop.ts". */
  files: string[];
  /** file -> files it imports (within the root). */
  edges: Map<string, Set<string>>;
}

function listTs(dir: string, root: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) listTs(p, root, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(path.relative(root, p).split(path.sep).join("/"));
  }
}

/** The file an import specifier names: x.ts, x/index.ts (undefined for packages and files outside the root). */
function resolve(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = path.join(path.dirname(path.join(root, from)), spec);
  for (const c of [base, `${base}.ts`, path.join(base, "index.ts")]) {
    if (c.endsWith(".ts") && fs.existsSync(c) && fs.statSync(c).isFile()) {
      const rel = path.relative(root, c);
      return rel.startsWith("..") ? undefined : rel.split(path.sep).join("/");
    }
  }
  return undefined;
}

/** Every module specifier a file names, in import/export declarations and require()/import() calls. */
function specifiers(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier))
      out.push(n.moduleSpecifier.text);
    else if (
      ts.isImportEqualsDeclaration(n) &&
      ts.isExternalModuleReference(n.moduleReference) &&
      ts.isStringLiteral(n.moduleReference.expression)
    )
      out.push(n.moduleReference.expression.text);
    else if (ts.isCallExpression(n) && n.arguments.length >= 1 && ts.isStringLiteralLike(n.arguments[0])) {
      const callee = n.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require"))
        out.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal))
      out.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

export function importGraph(root: string): ImportGraph {
  const files: string[] = [];
  listTs(root, root, files);
  files.sort();
  const edges = new Map<string, Set<string>>();
  for (const f of files) {
    const to = new Set<string>();
    for (const spec of specifiers(path.join(root, f))) {
      const target = resolve(root, f, spec);
      if (target !== undefined) to.add(target);
    }
    edges.set(f, to);
  }
  return { files, edges };
}

/** "train/loop.ts" -> "train"; a file directly in the root -> "." */
export function folderOf(file: string): string {
  const i = file.indexOf("/");
  return i < 0 ? "." : file.slice(0, i);
}

/** The graph between top-level folders: an edge wherever a file of one imports a file of another. */
export function folderGraph(g: ImportGraph): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [from, tos] of g.edges) {
    const a = folderOf(from);
    if (!out.has(a)) out.set(a, new Set());
    for (const to of tos) {
      const b = folderOf(to);
      if (a !== b) out.get(a)!.add(b);
    }
  }
  return out;
}

/**
 * Every cycle of a directed graph, one per strongly connected component (Tarjan), each given as a path
 * a -> b -> ... -> a through that component (self-imports included).
 */
export function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) sccs.push(scc);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!idx.has(v)) visit(v);
  return sccs.map((scc) => pathThrough(edges, new Set(scc)));
}

/** A shortest cycle through the first (sorted) node of a strongly connected component. */
function pathThrough(edges: Map<string, Set<string>>, scc: Set<string>): string[] {
  const start = [...scc].sort()[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of [...(edges.get(v) ?? [])].sort()) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const p = [start];
        for (let x = v; x !== start; x = prev.get(x)!) p.splice(1, 0, x);
        return [...p, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
