/** One sample of a scrape: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses the Prometheus text exposition format (0.0.4) into its samples.
 * Comment lines (# HELP, # TYPE) and timestamps are dropped: the page needs
 * values only, and a histogram's series are recognised by their suffixes.
 * Label values are unescaped (\\, \", \n); values may be NaN, +Inf or -Inf.
 * A line that does not parse is skipped rather than failing the scrape, so
 * one odd series never hides a process's others; `skipped` counts them.
 *
 * Written here rather than taken from npm: the one dedicated parser there
 * (parse-prometheus-text-format) ships no types, has a single release line
 * and groups histograms into its own shape, which the page would re-flatten.
 */
export function parsePrometheusText(text: string): { samples: Sample[]; skipped: number } {
  const samples: Sample[] = [];
  let skipped = 0;
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const sample = parseLine(line);
    if (sample === undefined) {
      skipped++;
    } else {
      samples.push(sample);
    }
  }
  return { samples, skipped };
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseLine(line: string): Sample | undefined {
  const name = metricName.exec(line)?.[0];
  if (name === undefined) {
    return undefined;
  }
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    const parsed = parseLabels(rest, labels);
    if (parsed === undefined) {
      return undefined;
    }
    rest = rest.slice(parsed);
  }
  // Whitespace, the value, then an optional timestamp.
  if (!/^[ \t]/.test(rest)) {
    return undefined;
  }
  const fields = rest.trim().split(/\s+/);
  if (fields.length > 2) {
    return undefined;
  }
  const value = parseValue(fields[0] ?? "");
  return value === undefined ? undefined : { name, labels, value };
}

/** Reads `{a="x",b="y"}` at the start of `text` into `into`; returns the characters consumed. */
function parseLabels(text: string, into: Record<string, string>): number | undefined {
  let i = 1;
  for (;;) {
    while (text[i] === " " || text[i] === ",") {
      i++;
    }
    if (text[i] === "}") {
      return i + 1;
    }
    const name = labelName.exec(text.slice(i))?.[0];
    if (name === undefined) {
      return undefined;
    }
    i += name.length;
    while (text[i] === " ") i++;
    if (text[i] !== "=") return undefined;
    i++;
    while (text[i] === " ") i++;
    if (text[i] !== '"') return undefined;
    i++;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) {
        return undefined;
      }
      if (c === '"') {
        i++;
        break;
      }
      if (c === "\\") {
        const next = text[i + 1];
        value += next === "n" ? "\n" : next === "\\" ? "\\" : next === '"' ? '"' : `\\${next ?? ""}`;
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    into[name] = value;
  }
}

function parseValue(text: string): number | undefined {
  switch (text) {
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
  }
  // eslint-disable-next-line security/detect-unsafe-regex -- linear: fraction digits only follow the dot, no input splits two ways
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    return undefined;
  }
  return Number(text);
}
