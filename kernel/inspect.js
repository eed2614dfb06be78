// @ts-check
// inspect_request (Shift+Tab) inside a call's arguments: tslab answers only on a name, so right after
// `new optim.SGD(` it found nothing. There the kernel answers with TypeScript's signature help, as an editor
// does: the signature being called, its documentation and the current parameter's.
"use strict";
const ts = require("@tslab/typescript-for-tslab");

/** What tslab puts before a cell's source when it compiles it (converter.js srcPrefix). */
const SRC_PREFIX = "export {};" + ts.sys.newLine;

/** @param {readonly import("@tslab/typescript-for-tslab").SymbolDisplayPart[] | undefined} parts */
const text = (parts) => (parts ?? []).map((p) => p.text).join("");

/**
 * The innermost `new f(...)` or `f(...)` whose argument list holds `pos`.
 * @param {import("@tslab/typescript-for-tslab").SourceFile} file
 * @param {number} pos
 * @returns {import("@tslab/typescript-for-tslab").CallExpression | import("@tslab/typescript-for-tslab").NewExpression | undefined}
 */
function callAt(file, pos) {
  /** @type {import("@tslab/typescript-for-tslab").CallExpression | import("@tslab/typescript-for-tslab").NewExpression | undefined} */
  let found;
  /** @param {import("@tslab/typescript-for-tslab").Node} node */
  const visit = (node) => {
    if (pos < node.getStart(file) || pos > node.end) return;
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && pos > node.expression.end) found = node;
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/**
 * The documentation of what `node` names (through imports and re-exports).
 * @param {import("@tslab/typescript-for-tslab").TypeChecker} checker
 * @param {import("@tslab/typescript-for-tslab").Node} node
 */
function docsOf(checker, node) {
  let symbol = checker.getSymbolAtLocation(node);
  if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
  return symbol?.getDocumentationComment(checker) ?? [];
}

/**
 * Signature help at `position` of the cell tslab's program last compiled for inspection, as the QuickInfo
 * tslab's inspect reply prints (tslab's printQuickInfo), or undefined outside a call's arguments.
 * @param {import("@tslab/typescript-for-tslab").Program | undefined} program tslab's program, just updated by its inspect()
 * @param {number} position in the cell
 * @returns {import("@tslab/typescript-for-tslab").QuickInfo | undefined}
 */
function signatureInfo(program, position) {
  const file = program?.getSourceFiles().find((f) => /[\\/]__tslab__\.ts$/.test(f.fileName));
  if (!program || !file) return undefined;
  const at = position + SRC_PREFIX.length;
  const cancel = { isCancellationRequested: () => false, throwIfCancellationRequested: () => undefined };
  /** @type {import("@tslab/typescript-for-tslab").SignatureHelpItems | undefined} */
  let help;
  try {
    help = /** @type {any} */ (ts).SignatureHelp.getSignatureHelpItems(program, file, at, undefined, cancel);
  } catch {
    return undefined;
  }
  const item = help?.items[help.selectedItemIndex];
  if (!help || !item) return undefined;
  const call = callAt(file, at);
  const params = item.parameters.map((p) => text(p.displayParts)).join(text(item.separatorDisplayParts));
  const signature = `${call && ts.isNewExpression(call) ? "new " : ""}${text(item.prefixDisplayParts)}${params}${text(item.suffixDisplayParts)}`;
  const more = help.items.length > 1 ? ` (+${help.items.length - 1} overload${help.items.length > 2 ? "s" : ""})` : "";
  // A constructor often has no documentation of its own: then the class's (what a hover on its name shows).
  const callee = call && (ts.isPropertyAccessExpression(call.expression) ? call.expression.name : call.expression);
  const documentation = item.documentation.length > 0 || !callee ? item.documentation : docsOf(program.getTypeChecker(), callee);
  const tags = item.tags ?? [];
  const tagged = new Set(tags.filter((t) => t.name === "param").map((t) => text(t.text).split(" ")[0]));
  /** @type {import("@tslab/typescript-for-tslab").JSDocTagInfo[]} */
  const paramDocs = item.parameters
    .filter((p) => p.documentation.length > 0 && !tagged.has(p.name))
    .map((p) => ({ name: "param", text: [{ kind: "text", text: `${p.name} ${text(p.documentation)}` }] }));
  return {
    kind: ts.ScriptElementKind.functionElement,
    kindModifiers: "",
    textSpan: { start: help.applicableSpan.start - SRC_PREFIX.length, length: help.applicableSpan.length },
    displayParts: [{ kind: "text", text: signature + more }],
    documentation,
    tags: [...paramDocs, ...tags],
  };
}

module.exports = { signatureInfo };
