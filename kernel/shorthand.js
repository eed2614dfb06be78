// @ts-check
// tslab rewrites a reference to an earlier cell's variable `x` as `exports.x`, but not the shorthand property
// `{ x }`, which then fails at run time with "x is not defined". This expands such shorthands in the emitted
// JavaScript to `{ x: exports.x }` (same line, so tracebacks keep their line numbers).
"use strict";
const ts = require("@tslab/typescript-for-tslab");

/**
 * The names earlier cells defined at run time (variables, functions, classes, enums), read from tslab's
 * declarations text of those cells.
 * @param {string} decls
 * @returns {Set<string>}
 */
function earlierNames(decls) {
  const names = new Set();
  const sf = ts.createSourceFile("decls.d.ts", decls, ts.ScriptTarget.Latest);
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) bindings(d.name, names);
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) && st.name) names.add(st.name.text);
  }
  return names;
}

/** @param {import("@tslab/typescript-for-tslab").BindingName} name @param {Set<string>} out */
function bindings(name, out) {
  if (ts.isIdentifier(name)) out.add(name.text);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bindings(el.name, out);
}

/**
 * `js` with every shorthand property `{ x }` whose `x` is an earlier cell's name written `{ x: exports.x }`.
 * A name this cell binds anywhere (a variable, parameter, function, class, import, catch variable) is left as
 * it is: the shorthand may mean the local one, and tslab handled those before.
 * @param {string} js the cell's JavaScript as tslab emitted it
 * @param {string} decls the declarations of the earlier cells
 * @param {import("./sourcemap").Insertions} [insertions] receives what was inserted where (for tracebacks)
 * @returns {string}
 */
function expandShorthand(js, decls, insertions) {
  if (!js.includes("{")) return js;
  const earlier = earlierNames(decls);
  if (earlier.size === 0) return js;
  const sf = ts.createSourceFile("cell.js", js, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  /** @type {Set<string>} */
  const bound = new Set();
  /** @type {import("@tslab/typescript-for-tslab").ShorthandPropertyAssignment[]} */
  const shorthands = [];
  /** @param {import("@tslab/typescript-for-tslab").Node} node */
  const visit = (node) => {
    if (ts.isShorthandPropertyAssignment(node) && !node.objectAssignmentInitializer) shorthands.push(node);
    else if (ts.isVariableDeclaration(node) || ts.isParameter(node) || ts.isBindingElement(node)) {
      if (ts.isIdentifier(node.name)) bound.add(node.name.text);
    } else if (
      (ts.isFunctionLike(node) ||
        ts.isClassLike(node) ||
        ts.isImportClause(node) ||
        ts.isImportSpecifier(node) ||
        ts.isNamespaceImport(node) ||
        ts.isImportEqualsDeclaration(node)) &&
      node.name &&
      ts.isIdentifier(node.name)
    ) {
      bound.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  let out = js;
  for (const sh of shorthands.reverse()) {
    const name = sh.name.text;
    if (earlier.has(name) && !bound.has(name)) {
      out = `${out.slice(0, sh.name.end)}: exports.${name}${out.slice(sh.name.end)}`;
      insertions?.add(sh.name.end, `: exports.${name}`.length);
    }
  }
  return out;
}

module.exports = { expandShorthand };
