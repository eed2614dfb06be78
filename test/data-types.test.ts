// Compose's types flow from its list to the dataset's items. Tests run transpile-only, so this one type-checks
// a snippet with the TypeScript compiler against the built declarations (dist/, as notebooks see "tsdl").
import assert from "node:assert/strict";
import * as path from "path";
import * as ts from "typescript";

const SNIPPET = `
import { data } from "tsdl";
const T = data.transforms;
type Eq<A, B> = (<G>() => G extends A ? 1 : 2) extends (<G>() => G extends B ? 1 : 2) ? true : false;
const chain = new T.Compose([new T.Resize(8), new T.ToTensor(), new T.Normalize(0.5, 0.5)]);
export const chainType: Eq<typeof chain, data.transforms.Compose<data.Image, data.FloatImage>> = true;
const gray = Math.random() > 0.5 ? [new T.Grayscale(3)] : [];
const spread = new T.Compose([...gray, new T.Resize(8), new T.ToTensor()]);
const [x] = new data.CIFAR10("/nowhere", { transform: spread }).get(0);
export const itemType: Eq<typeof x, data.FloatImage> = true;
const one = new T.Compose([new T.ToTensor()]);
export const oneType: Eq<typeof one, data.transforms.Compose<data.Image, data.FloatImage>> = true;
const fns = new T.Compose([(img: data.Image) => img.width, (n: number) => String(n)]);
export const fnType: Eq<ReturnType<typeof fns.forward>, string> = true;
const list: data.transforms.TransformLike[] = [new T.ToTensor()];
export const fromList = new T.Compose(list);
export const empty = new T.Compose([]);
`;

function typeErrors(source: string): string[] {
  // a virtual file in test/ (never written), so "tsdl" resolves through the repo's node_modules
  const file = path.join(__dirname, "__compose-types.ts");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    esModuleInterop: true,
    skipLibCheck: true,
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2020,
    moduleResolution: ts.ModuleResolutionKind.Node10,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === file ? source : readFile(f));
  const exists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === file || exists(f);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("data types: Compose<I, O>", function () {
  this.timeout(60_000);

  it("infers input and output from the list, so a dataset's items are typed (FloatImage, not unknown)", () => {
    assert.deepEqual(typeErrors(SNIPPET), []);
  });

  it("the check fails when an item type is wrong", () => {
    const wrong = SNIPPET.replace("Eq<typeof x, data.FloatImage>", "Eq<typeof x, data.Image>");
    assert.notEqual(wrong, SNIPPET);
    assert.ok(typeErrors(wrong).some((m) => m.includes("'true' is not assignable to type 'false'")));
  });
});
