/**
 * Finds where a JSON text first breaks the grammar, as a line and column a person can go to.
 * Node 20's JSON.parse often omits the position ("Unexpected token '}', … is not valid JSON"), and a
 * configuration error must point at the place to fix, so this small scanner re-reads the text after
 * JSON.parse has failed. It only locates the error; JSON.parse stays the parser.
 */
export interface JsonSyntaxError {
  line: number;
  column: number;
  problem: string;
}

class Fail extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(problem);
  }
}

export function findJsonSyntaxError(text: string): JsonSyntaxError | null {
  let i = 0;

  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i] as string)) i++;
  };
  const describe = () => (i >= text.length ? "unexpected end of file" : `unexpected ${JSON.stringify(text[i])}`);
  const expect = (ch: string) => {
    if (text[i] !== ch) throw new Fail(i, `${describe()} (expected ${JSON.stringify(ch)})`);
    i++;
  };

  const string = () => {
    expect('"');
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) throw new Fail(i, "control character inside a string");
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Fail(i, "bad \\u escape");
          i += 5;
          continue;
        }
        if (i >= text.length || !'"\\/bfnrt'.includes(text[i] as string)) throw new Fail(i, "bad escape");
      }
      i++;
    }
    if (i >= text.length) throw new Fail(i, "unterminated string");
    i++;
  };

  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Fail(i, `${describe()} (expected a quoted key)`);
        string();
        ws();
        expect(":");
        value();
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "}") throw new Fail(i, "trailing comma");
          continue;
        }
        return expect("}");
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "]") throw new Fail(i, "trailing comma");
          continue;
        }
        return expect("]");
      }
    }
    if (c === '"') return string();
    const lit = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!lit) throw new Fail(i, describe());
    i += lit[0].length;
  };

  try {
    value();
    ws();
    if (i < text.length) throw new Fail(i, `${describe()} after the end of the document`);
    return null;
  } catch (err) {
    // Anything else (a RangeError from absurd nesting) just means "no position to report".
    if (!(err instanceof Fail)) return null;
    const before = text.slice(0, err.offset).split("\n");
    return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1, problem: err.problem };
  }
}
